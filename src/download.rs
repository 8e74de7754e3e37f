//! Downloading an official checkpoint: HTTPS with a maintained client (`ureq`, rustls),
//! resumable with range requests, size-checked against what the server announced and, where
//! the server publishes one (Hugging Face's `X-Linked-Etag` for LFS files is the SHA-256),
//! checksum-checked. The partial file is `<name>.part` next to the target; it is renamed only
//! when complete and verified, so an interrupted download never looks finished.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, bounded};
use sha2::{Digest, Sha256};

use crate::model::config::Variant;

/// The Hugging Face repository of each official model (spec §0).
pub fn repository(variant: Variant) -> &'static str {
    match variant {
        Variant::V256 => "Doubiiu/DynamiCrafter",
        Variant::V512 => "Doubiiu/DynamiCrafter_512",
        Variant::V1024 => "Doubiiu/DynamiCrafter_1024",
        Variant::V512Interp => "Doubiiu/DynamiCrafter_512_Interp",
    }
}

/// Where `model.ckpt` of `variant` is downloaded from.
pub fn official_url(variant: Variant) -> String {
    mirror_url("https://huggingface.co", variant)
}

/// `model.ckpt` of `variant` on a Hugging Face mirror (`https://hf-mirror.com` or a local
/// one), which serves the same paths as huggingface.co.
pub fn mirror_url(host: &str, variant: Variant) -> String {
    format!("{}/{}/resolve/main/model.ckpt", host.trim().trim_end_matches('/'), repository(variant))
}

/// Attempts in a row without progress: a cut connection resumes where it stopped.
const ATTEMPTS: usize = 5;

/// How long a connection may send nothing before it is given up (and resumed).
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Redirects followed (Hugging Face sends one to its CDN).
const MAX_REDIRECTS: usize = 10;

/// Download failures, each with what to do.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    #[error("the server answered {status} for {url}{hint}")]
    Status { status: u16, url: String, hint: &'static str },
    #[error("cannot reach {url}: {message}. Check the connection (or use --url for a mirror)")]
    Network { url: String, message: String },
    #[error("cannot write {}: {source}{}", path.display(), if source.kind() == std::io::ErrorKind::StorageFull { " (the disk is full: free space and resume; the part already downloaded is kept)" } else { "" })]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the server sent {got} bytes but announced {announced}: the download is not trustworthy and was removed")]
    Length { got: u64, announced: u64 },
    #[error("the server announced no size for {url}; refusing to download an unknown amount")]
    NoLength { url: String },
    #[error("the download's SHA-256 is {got}, but the server published {want}: the file was removed, try again")]
    Checksum { got: String, want: String },
    #[error(
        "the connection kept breaking ({attempts} attempts, last: {last}); the {done} bytes downloaded are kept: run the download again to resume"
    )]
    GaveUp { attempts: usize, done: u64, last: String },
    #[error("download cancelled; the {0} bytes downloaded are kept for resuming")]
    Cancelled(u64),
}

/// Progress, after every chunk.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DownloadProgress {
    pub done: u64,
    pub total: u64,
    /// Bytes per second over the current connection.
    pub speed: f64,
}

impl DownloadProgress {
    /// Seconds left at the current speed.
    pub fn eta_seconds(&self) -> Option<f64> {
        (self.speed > 0.0).then(|| self.total.saturating_sub(self.done) as f64 / self.speed)
    }
}

/// What a finished download produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub bytes: u64,
    /// The SHA-256 checked against the server's, when it published one.
    pub sha256_checked: bool,
}

/// Redirects are followed by hand ([`get`]); a body is read for at most an hour per
/// connection (then resumed), which also bounds a reader given up on a silent server.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .timeout_recv_body(Some(Duration::from_secs(3600)))
        .max_redirects(0)
        .build()
        .into()
}

/// The checksums seen along a redirect chain: Hugging Face puts `X-Linked-Etag` on the
/// redirect, not on the CDN's final answer.
#[derive(Debug, Default)]
struct Published {
    linked: Option<String>,
    etag: Option<String>,
}

impl Published {
    fn take_from(&mut self, resp: &ureq::http::Response<ureq::Body>) {
        self.linked = self.linked.take().or_else(|| sha256_header(resp, "x-linked-etag"));
        self.etag = self.etag.take().or_else(|| sha256_header(resp, "etag"));
    }

    fn sha256(&self) -> Option<String> {
        self.linked.clone().or_else(|| self.etag.clone())
    }
}

/// GETs `url` from byte `from` on, following redirects by hand so that every response's
/// published checksum is seen.
fn get(
    agent: &ureq::Agent,
    url: &str,
    from: u64,
    published: &mut Published,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let mut at = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        let mut req = agent.get(&at);
        if from > 0 {
            req = req.header("Range", format!("bytes={from}-"));
        }
        let resp = req.call().map_err(|e| e.to_string())?;
        published.take_from(&resp);
        match (resp.status().is_redirection(), header(&resp, "location")) {
            (true, Some(location)) => at = resolve(&at, &location),
            _ => return Ok(resp),
        }
    }
    Err(format!("more than {MAX_REDIRECTS} redirects"))
}

/// A redirect's `Location` made absolute against the URL that sent it.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    let authority = rest.split('/').next().unwrap_or(rest);
    if let Some(net) = location.strip_prefix("//") {
        format!("{scheme}://{net}")
    } else if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = rest.split(['?', '#']).next().unwrap_or(rest);
        let dir = path.rsplit_once('/').map_or(path, |(d, _)| d);
        format!("{scheme}://{dir}/{location}")
    }
}

fn header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// A published SHA-256 in header `name`: Hugging Face sends the LFS object's hash as
/// `X-Linked-Etag` (a quoted 64-digit hex string); a plain `ETag` of that form counts too.
fn sha256_header(resp: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    let tag = header(resp, name)?;
    let t = tag.trim_start_matches("W/").trim_matches('"').to_ascii_lowercase();
    (t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit())).then_some(t)
}

/// Reads `reader` on its own thread and hands the chunks over a channel, so that waiting for
/// data can be bounded (a silent server) and interrupted (cancel). A reader given up on ends
/// when its read returns (the agent's body timeout bounds that).
fn spawn_reader(mut reader: impl Read + Send + 'static) -> std::io::Result<Receiver<std::io::Result<Vec<u8>>>> {
    let (tx, rx) = bounded(4);
    std::thread::Builder::new().name("download-read".into()).spawn(move || {
        loop {
            let mut buf = vec![0u8; 1 << 20];
            let chunk = reader.read(&mut buf).map(|n| {
                buf.truncate(n);
                buf
            });
            let last = !matches!(&chunk, Ok(b) if !b.is_empty());
            if tx.send(chunk).is_err() || last {
                return;
            }
        }
    })?;
    Ok(rx)
}

/// Downloads `url` to `target`, resuming `<target>.part` if present. `progress` returning
/// `false` cancels (the part is kept for resuming); it is also asked while no data arrives.
/// A connection silent for [`STALL_TIMEOUT`] is given up and resumed.
pub fn download(
    url: &str,
    target: &Path,
    progress: impl FnMut(DownloadProgress) -> bool,
) -> Result<Downloaded, DownloadError> {
    download_with(url, target, STALL_TIMEOUT, progress)
}

/// [`download`] with another stall timeout.
pub fn download_with(
    url: &str,
    target: &Path,
    stall: Duration,
    mut progress: impl FnMut(DownloadProgress) -> bool,
) -> Result<Downloaded, DownloadError> {
    let part = PathBuf::from(format!("{}.part", target.display()));
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(|source| DownloadError::Write { path: dir.to_path_buf(), source })?;
    }
    let agent = agent();
    let mut published = Published::default();
    // The size the server first announced: later answers must agree with it.
    let mut announced: Option<u64> = None;
    let mut stalled = 0;
    // Attempts in a row that brought nothing (a connection that made progress resets it).
    let mut attempt = 0;
    let mut last_problem = String::new();
    while attempt < ATTEMPTS {
        attempt += 1;
        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
        let resp = match get(&agent, url, have, &mut published) {
            Ok(r) => r,
            Err(message) => {
                // Connection-level failures retry (resuming); the last one is reported.
                if attempt == ATTEMPTS {
                    return Err(DownloadError::Network { url: url.to_owned(), message });
                }
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let status = resp.status().as_u16();
        let want_sha = published.sha256();
        let (start, total) = match status {
            200 => {
                // No range support (or a fresh start): the whole file from byte 0.
                let len = header(&resp, "content-length").and_then(|v| v.parse::<u64>().ok());
                (0, len.ok_or_else(|| DownloadError::NoLength { url: url.to_owned() })?)
            }
            206 => {
                // `Content-Range: bytes START-END/TOTAL`
                let cr = header(&resp, "content-range").unwrap_or_default();
                let parsed = cr.strip_prefix("bytes ").and_then(|r| {
                    let (range, total) = r.split_once('/')?;
                    let (a, _) = range.split_once('-')?;
                    Some((a.parse::<u64>().ok()?, total.parse::<u64>().ok()?))
                });
                match parsed {
                    Some((a, t)) if a == have => (a, t),
                    // A range we did not ask for: start over rather than splice wrong bytes.
                    _ => {
                        let _ = std::fs::remove_file(&part);
                        continue;
                    }
                }
            }
            416 if have > 0 => {
                // Nothing left to send: the part may already be whole. Verify below.
                let total = announced.unwrap_or(have);
                return finish(&part, target, have, total, want_sha.as_deref());
            }
            404 => {
                return Err(DownloadError::Status {
                    status,
                    url: url.to_owned(),
                    hint: ": the file is not there (check the model name or the mirror URL)",
                });
            }
            401 | 403 => {
                return Err(DownloadError::Status {
                    status,
                    url: url.to_owned(),
                    hint: ": access denied (the repository may need a login; download it in a browser and import it)",
                });
            }
            _ => {
                if status >= 500 && attempt < ATTEMPTS {
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
                return Err(DownloadError::Status { status, url: url.to_owned(), hint: "" });
            }
        };
        if announced.is_some_and(|a| a != total) {
            let _ = std::fs::remove_file(&part);
            return Err(DownloadError::Length { got: total, announced: announced.unwrap_or(total) });
        }
        announced = Some(total);
        let mut file = if start == 0 { File::create(&part) } else { OpenOptions::new().append(true).open(&part) }
            .map_err(|source| DownloadError::Write { path: part.clone(), source })?;
        let mut done = start;
        let chunks = spawn_reader(resp.into_body().into_reader())
            .map_err(|e| DownloadError::Network { url: url.to_owned(), message: e.to_string() })?;
        let t0 = Instant::now();
        let mut heard = Instant::now();
        let mut silent = false;
        let outcome: Result<(), String> = loop {
            let speed = (done - start) as f64 / t0.elapsed().as_secs_f64().max(1e-3);
            let chunk = match chunks.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(c)) if c.is_empty() => break Ok(()),
                Ok(Ok(c)) => c,
                Ok(Err(e)) => break Err(e.to_string()),
                Err(RecvTimeoutError::Disconnected) => break Err("the connection's reader stopped".into()),
                Err(RecvTimeoutError::Timeout) => {
                    if !progress(DownloadProgress { done, total, speed }) {
                        let _ = file.flush();
                        return Err(DownloadError::Cancelled(done));
                    }
                    if heard.elapsed() >= stall {
                        silent = true;
                        break Err(format!("the server sent nothing for {:.1} s", stall.as_secs_f32()));
                    }
                    continue;
                }
            };
            heard = Instant::now();
            let n = chunk.len() as u64;
            if done + n > total {
                let _ = std::fs::remove_file(&part);
                return Err(DownloadError::Length { got: done + n, announced: total });
            }
            write_all(&mut file, &chunk, &part)?;
            done += n;
            if !progress(DownloadProgress { done, total, speed }) {
                let _ = file.flush();
                return Err(DownloadError::Cancelled(done));
            }
        };
        file.flush().map_err(|source| DownloadError::Write { path: part.clone(), source })?;
        drop(file);
        if done == total {
            return finish(&part, target, done, total, want_sha.as_deref());
        }
        // Cut short (a broken or silent connection, or a server that announced more than it
        // has): resume from what arrived. A server that twice in a row ends the body without
        // sending anything of what it announced does not have it: its size was a lie (one
        // that merely goes silent is retried instead).
        if let Err(problem) = outcome {
            last_problem = problem;
        }
        if !silent {
            stalled = if done == start { stalled + 1 } else { 0 };
        }
        if stalled >= 2 {
            let _ = std::fs::remove_file(&part);
            return Err(DownloadError::Length { got: done, announced: total });
        }
        if done > start {
            attempt = 0;
        }
    }
    let done = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    Err(DownloadError::GaveUp { attempts: ATTEMPTS, done, last: last_problem })
}

fn write_all(file: &mut File, bytes: &[u8], path: &Path) -> Result<(), DownloadError> {
    file.write_all(bytes).map_err(|source| DownloadError::Write { path: path.to_path_buf(), source })
}

/// Checks the complete part (size, and SHA-256 when published) and renames it into place.
fn finish(
    part: &Path,
    target: &Path,
    done: u64,
    total: u64,
    want_sha: Option<&str>,
) -> Result<Downloaded, DownloadError> {
    let on_disk = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    if on_disk != total || done != total {
        let _ = std::fs::remove_file(part);
        return Err(DownloadError::Length { got: on_disk, announced: total });
    }
    if let Some(want) = want_sha {
        let got = sha256_file(part).map_err(|source| DownloadError::Write { path: part.to_path_buf(), source })?;
        if got != want {
            let _ = std::fs::remove_file(part);
            return Err(DownloadError::Checksum { got, want: want.to_owned() });
        }
    }
    std::fs::rename(part, target).map_err(|source| DownloadError::Write { path: target.to_path_buf(), source })?;
    Ok(Downloaded { path: target.to_path_buf(), bytes: total, sha256_checked: want_sha.is_some() })
}

/// SHA-256 of a file, streamed, as lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}
