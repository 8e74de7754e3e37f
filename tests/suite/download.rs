//! The model downloader against a local HTTP server (never the internet): resume after a
//! cut connection, a server without range support, a server that lies about the length, a
//! 404, a published checksum that does not match, and a disk that fills up.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dynamicrafter_studio::download::{DownloadError, download, download_with, sha256_file};

/// How the test server misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// Ranges honoured.
    Good,
    /// The first response is cut after this many bytes; later ones are complete.
    CutOnce(usize),
    /// Ignores `Range` and always sends the whole file with 200.
    NoRanges,
    /// Announces 500 bytes more than it has.
    Lies,
    /// Publishes a SHA-256 (as Hugging Face's `X-Linked-Etag`) that is not the file's.
    WrongChecksum,
    /// Redirects `/model.ckpt` to `/cdn/model.ckpt` with an `X-Linked-Etag` on the redirect
    /// only (as Hugging Face does): the file's SHA-256, or a wrong one.
    Redirect { right_sha: bool },
    /// The first response sends this many bytes, then nothing while keeping the connection
    /// open; later ones are complete.
    StallOnce(usize),
    /// Every response sends its headers, then nothing.
    Silent,
}

/// Serves `body` at `/model.ckpt` (404 elsewhere); returns the base URL and a request counter.
pub(crate) fn serve(body: Vec<u8>, mode: Mode) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let body = Arc::new(body);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            std::thread::spawn(move || respond(stream, &body, mode, n));
        }
    });
    (url, count)
}

fn respond(mut stream: TcpStream, body: &[u8], mode: Mode, request_index: usize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let mut range_start = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(r) = lower.strip_prefix("range: bytes=") {
            range_start = r.trim().trim_end_matches('-').parse::<usize>().ok();
        }
    }
    if let Mode::Redirect { right_sha } = mode {
        if first.contains(" /model.ckpt ") {
            let sha = if right_sha { sha256_hex(body) } else { "ab".repeat(32) };
            let _ = stream.write_all(
                format!("HTTP/1.1 302 Found\r\nLocation: /cdn/model.ckpt\r\nX-Linked-Etag: \"{sha}\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            );
            return;
        }
    }
    let path = if matches!(mode, Mode::Redirect { .. }) { " /cdn/model.ckpt " } else { " /model.ckpt " };
    if !first.contains(path) {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    }
    let announced = if mode == Mode::Lies { body.len() + 500 } else { body.len() };
    let sha =
        if mode == Mode::WrongChecksum { format!("X-Linked-Etag: \"{}\"\r\n", "ab".repeat(32)) } else { String::new() };
    let start = if mode == Mode::NoRanges { None } else { range_start };
    let (head, slice) = match start {
        Some(s) if s >= announced => {
            let _ = stream.write_all(
                format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{announced}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            return;
        }
        Some(s) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{announced}\r\nContent-Length: {}\r\n{sha}Connection: close\r\n\r\n",
                announced - 1,
                announced - s
            ),
            &body[s.min(body.len())..],
        ),
        None => (format!("HTTP/1.1 200 OK\r\nContent-Length: {announced}\r\n{sha}Connection: close\r\n\r\n"), body),
    };
    let _ = stream.write_all(head.as_bytes());
    let slice = match mode {
        Mode::CutOnce(after) if request_index == 0 => &slice[..after.min(slice.len())],
        Mode::StallOnce(after) if request_index == 0 => &slice[..after.min(slice.len())],
        Mode::Silent => &[],
        _ => slice,
    };
    let _ = stream.write_all(slice);
    let _ = stream.flush();
    if matches!(mode, Mode::Silent) || (matches!(mode, Mode::StallOnce(_)) && request_index == 0) {
        std::thread::sleep(std::time::Duration::from_secs(120)); // open, silent
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()
}

#[test]
fn resumes_after_a_cut_connection() {
    let body = payload(3 << 20);
    let (url, requests) = serve(body.clone(), Mode::CutOnce(1 << 20));
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("m/model.ckpt");
    let mut last = None;
    let got = download(&format!("{url}/model.ckpt"), &target, |p| {
        last = Some(p);
        true
    })
    .unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), body);
    assert_eq!(got.bytes, body.len() as u64);
    assert!(requests.load(Ordering::SeqCst) >= 2, "it did not reconnect");
    assert_eq!(last.unwrap().done, body.len() as u64);
    assert!(!tmp.path().join("m/model.ckpt.part").exists());
}

#[test]
fn an_interrupted_part_resumes_and_a_server_without_ranges_starts_over() {
    let body = payload(1 << 20);
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("model.ckpt");
    // A previous run left the first 300 kB (correct bytes).
    std::fs::write(tmp.path().join("model.ckpt.part"), &body[..300_000]).unwrap();
    let (url, _) = serve(body.clone(), Mode::Good);
    let mut first_done = None;
    download(&format!("{url}/model.ckpt"), &target, |p| {
        first_done.get_or_insert(p.done);
        true
    })
    .unwrap();
    assert!(first_done.unwrap() > 300_000, "it did not resume from the part");
    assert_eq!(std::fs::read(&target).unwrap(), body);
    // Garbage in a part, and a server that ignores Range: the file is rewritten from byte 0.
    let target2 = tmp.path().join("again.ckpt");
    std::fs::write(tmp.path().join("again.ckpt.part"), vec![0xEE; 500_000]).unwrap();
    let (url, _) = serve(body.clone(), Mode::NoRanges);
    download(&format!("{url}/model.ckpt"), &target2, |_| true).unwrap();
    assert_eq!(std::fs::read(&target2).unwrap(), body, "a spliced file");
}

#[test]
fn a_lying_server_a_404_and_a_wrong_checksum_are_errors_without_a_file() {
    let body = payload(200_000);
    let tmp = tempfile::tempdir().unwrap();
    let (url, _) = serve(body.clone(), Mode::Lies);
    let target = tmp.path().join("lie.ckpt");
    let err = download(&format!("{url}/model.ckpt"), &target, |_| true).unwrap_err();
    assert!(matches!(err, DownloadError::Length { .. }), "{err}");
    assert!(!target.exists() && !tmp.path().join("lie.ckpt.part").exists());

    let (url, _) = serve(body.clone(), Mode::Good);
    let err = download(&format!("{url}/missing.ckpt"), &tmp.path().join("x.ckpt"), |_| true).unwrap_err();
    assert!(matches!(err, DownloadError::Status { status: 404, .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");

    let (url, _) = serve(body.clone(), Mode::WrongChecksum);
    let target = tmp.path().join("sum.ckpt");
    let err = download(&format!("{url}/model.ckpt"), &target, |_| true).unwrap_err();
    assert!(matches!(err, DownloadError::Checksum { .. }), "{err}");
    assert!(!target.exists());

    // Cancelling keeps the part for resuming.
    let (url, _) = serve(payload(3 << 20), Mode::Good);
    let target = tmp.path().join("cancel.ckpt");
    let err = download(&format!("{url}/model.ckpt"), &target, |p| p.done < 1 << 20).unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled(_)), "{err}");
    assert!(tmp.path().join("cancel.ckpt.part").exists());
}

#[test]
fn sha256_of_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("abc");
    std::fs::write(&p, b"abc").unwrap();
    assert_eq!(sha256_file(&p).unwrap(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/// The whole command on a disk that fills up (a file-size limit stands in for it): a clear
/// write error, the downloaded part kept for resuming, no finished-looking file.
#[test]
#[cfg(unix)]
fn a_full_disk_is_a_clear_error_and_keeps_the_part() {
    let body = payload(2 << 20);
    let (url, _) = serve(body, Mode::Good);
    let tmp = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_dynamicrafter-studio");
    // `ulimit -f` is in 1 KiB blocks here (bash, dash); SIGXFSZ ignored so the write fails.
    let script = format!(
        "trap '' XFSZ; ulimit -f 512; exec '{bin}' download 512 --url {url}/model.ckpt --dest '{}' --no-import",
        tmp.path().display()
    );
    let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the download succeeded past the limit: {stderr}");
    assert!(stderr.contains("cannot write") && stderr.contains("model.ckpt.part"), "{stderr}");
    let part = tmp.path().join("dynamicrafter_512/model.ckpt.part");
    assert!(part.exists(), "the part was not kept");
    assert!(!tmp.path().join("dynamicrafter_512/model.ckpt").exists());
}

/// Hugging Face publishes the SHA-256 on the redirect, not on the CDN's answer: the right
/// one is checked, a wrong one removes the file.
#[test]
fn the_checksum_on_a_redirect_is_checked() {
    let body = payload(300_000);
    let tmp = tempfile::tempdir().unwrap();
    let (url, _) = serve(body.clone(), Mode::Redirect { right_sha: true });
    let target = tmp.path().join("ok.ckpt");
    let got = download(&format!("{url}/model.ckpt"), &target, |_| true).unwrap();
    assert!(got.sha256_checked, "the published checksum was not checked");
    assert_eq!(std::fs::read(&target).unwrap(), body);
    let (url, _) = serve(body, Mode::Redirect { right_sha: false });
    let target = tmp.path().join("bad.ckpt");
    let err = download(&format!("{url}/model.ckpt"), &target, |_| true).unwrap_err();
    assert!(matches!(err, DownloadError::Checksum { .. }), "{err}");
    assert!(!target.exists());
}

/// A server that stops sending mid-body: the connection is given up after the stall
/// timeout and the download resumes; one that never sends is an error within the attempts'
/// timeouts; cancel answers at once even while a read is blocked.
#[test]
fn a_silent_server_is_given_up_and_cancel_interrupts_a_blocked_read() {
    use std::time::{Duration, Instant};
    let body = payload(3 << 20);
    let tmp = tempfile::tempdir().unwrap();
    let (url, requests) = serve(body.clone(), Mode::StallOnce(1 << 20));
    let target = tmp.path().join("stall.ckpt");
    let t0 = Instant::now();
    download_with(&format!("{url}/model.ckpt"), &target, Duration::from_secs(1), |_| true).unwrap();
    assert_eq!(std::fs::read(&target).unwrap(), body);
    assert!(requests.load(Ordering::SeqCst) >= 2, "it did not reconnect");
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());

    let (url, _) = serve(body.clone(), Mode::Silent);
    let t0 = Instant::now();
    let err = download_with(
        &format!("{url}/model.ckpt"),
        &tmp.path().join("silent.ckpt"),
        Duration::from_millis(500),
        |_| true,
    )
    .unwrap_err();
    assert!(matches!(err, DownloadError::GaveUp { .. }) && err.to_string().contains("sent nothing"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(20), "took {:?}", t0.elapsed());

    let t0 = Instant::now();
    let err = download(&format!("{url}/model.ckpt"), &tmp.path().join("cancel.ckpt"), |_| {
        t0.elapsed() < Duration::from_millis(300)
    })
    .unwrap_err();
    assert!(matches!(err, DownloadError::Cancelled(_)), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(3), "cancel took {:?}", t0.elapsed());
}

/// `download rife49 --url …`: resumed after a cut, checked as RIFE and installed under its
/// version's name in the model folder; without `--url` it says there is no official source.
#[test]
fn a_rife_file_downloads_from_the_users_url_and_is_installed() {
    let body = std::fs::read(crate::common::rife_fixture("4.9").join("rife49.pth")).unwrap();
    let (url, _) = serve(body.clone(), Mode::CutOnce(1_000_000));
    let tmp = tempfile::tempdir().unwrap();
    let (dl, models) = (tmp.path().join("dl"), tmp.path().join("models"));
    let bin = env!("CARGO_BIN_EXE_dynamicrafter-studio");
    let o = std::process::Command::new(bin)
        .args(["download", "rife49", "--url", &format!("{url}/model.ckpt")])
        .args(["--dest", dl.to_str().unwrap(), "--models", models.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{text}");
    assert!(text.contains("RIFE 4.9 checked and installed"), "{text}");
    assert_eq!(std::fs::read(models.join("rife49.pth")).unwrap(), body);
    let o = std::process::Command::new(bin).args(["download", "rife47"]).output().unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("RIFE has no official download"));
}
