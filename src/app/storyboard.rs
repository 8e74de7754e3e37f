//! Longer clips in the app. A **storyboard**: keyframes in order, each neighbouring pair one
//! interpolation segment, queued as jobs; when the last finishes, the segments are joined
//! (boundary frames once, see [`crate::pipeline::storyboard`]) into one history entry that
//! lists its segments, so one segment can be generated again with another seed and the
//! clip rebuilt from the others. **Continue**: a new image-to-video clip from the last frame
//! of the clip in the player, appended (optionally cross-faded) as a new entry that records
//! the chain. Joins read and write the history off the UI thread.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crossbeam_channel::Receiver;
use image::RgbImage;

use super::actions::error;
use super::{InputImage, ModelStatus, Notice, Queued, StudioApp, background};
use crate::history::{History, HistoryEntry, HistoryRecord, digest};
use crate::pipeline::conditioning::Mode;
use crate::pipeline::storyboard::{JoinKind, Joined, Part, segments};
use crate::worker::protocol::Job;

/// One keyframe: its image and an optional prompt for the segment that starts on it.
#[derive(Debug, Clone)]
pub struct Keyframe {
    pub image: InputImage,
    /// Empty: the shared prompt.
    pub prompt: String,
}

/// What the storyboard asks for.
#[derive(Debug, Clone)]
pub enum StoryboardAction {
    /// Queue every segment of the keyframes.
    Queue,
    /// Generate segment `index` of the storyboard entry again with a new seed and rebuild it.
    Rerun { entry: Box<HistoryEntry>, index: usize },
    /// A new clip from the last frame of this clip, appended to it.
    Continue(Box<HistoryEntry>),
}

/// A part of a clip being made: made now (with its frames), an earlier clip (read from the
/// history at the join, or held in memory when the history could not store it), or pending.
#[derive(Debug, Clone)]
enum Piece {
    Pending,
    Made(Box<HistoryEntry>, Arc<Vec<RgbImage>>),
    Earlier(Box<HistoryEntry>, Option<Arc<Vec<RgbImage>>>),
}

/// A storyboard or continuation whose parts are being generated.
#[derive(Debug)]
struct Build {
    /// The storyboard or chain id ([`Part::key`]).
    key: String,
    kind: JoinKind,
    pieces: Vec<Piece>,
    /// A storyboard's keyframes, kept in its entry's folder (for re-runs in a later session).
    keyframes: Vec<Arc<RgbImage>>,
}

/// The storyboard panel's data and the clips being built.
#[derive(Debug, Default)]
pub struct Board {
    pub keyframes: Vec<Keyframe>,
    pub looped: bool,
    /// Frames blended across a continuation's join.
    pub crossfade: usize,
    /// The segment the player's *Re-run segment* regenerates.
    pub rerun_segment: usize,
    builds: Vec<Build>,
    /// A storyboard entry and the segment to generate again, its keyframes being gathered.
    rerunning: Pending<(Box<HistoryEntry>, usize), Vec<Keyframe>>,
    /// The clip to continue (with its frames when the history could not store it), its last
    /// frame being read.
    continuing: Pending<(Box<HistoryEntry>, Held), RgbImage>,
    /// Joined clips being written to the history (on failure: the clip, kept unsaved).
    joining: Vec<Receiver<JoinResult>>,
}

impl Board {
    /// Segments (done, in all) of the storyboard `key` being built.
    pub fn progress(&self, key: &str) -> Option<(usize, usize)> {
        let b = self.builds.iter().find(|b| b.key == key)?;
        Some((b.pieces.iter().filter(|p| !matches!(p, Piece::Pending)).count(), b.pieces.len()))
    }
}

/// A clip's frames held in memory (one the history could not store), if any.
type Held = Option<Arc<Vec<RgbImage>>>;

/// A read off the UI thread and what it is for.
type Pending<S, T> = Option<(S, Receiver<Result<T, String>>)>;

/// Takes a finished read from `slot`: what it was for, and its result (a reader that stopped
/// without one is an error).
fn finished<S, T>(slot: &mut Pending<S, T>) -> Option<(S, Result<T, String>)> {
    let (_, rx) = slot.as_ref()?;
    let result = match rx.try_recv() {
        Err(crossbeam_channel::TryRecvError::Empty) => return None,
        Ok(r) => r,
        Err(crossbeam_channel::TryRecvError::Disconnected) => Err("the reader stopped unexpectedly".to_owned()),
    };
    slot.take().map(|(s, _)| (s, result))
}

/// A joined clip saved in the history (and its frames for the player), or why not.
type JoinResult = Result<(HistoryEntry, Vec<RgbImage>), JoinError>;

/// A join that did not reach the history: why, and the clip if it was made.
#[derive(Debug)]
struct JoinError {
    message: String,
    clip: Option<(HistoryRecord, Vec<RgbImage>)>,
}

impl From<String> for JoinError {
    fn from(message: String) -> Self {
        Self { message, clip: None }
    }
}

impl From<&str> for JoinError {
    fn from(message: &str) -> Self {
        Self { message: message.to_owned(), clip: None }
    }
}

/// Adds a decoded image as the last keyframe.
pub fn add_keyframe(app: &mut StudioApp, image: InputImage) {
    app.board.keyframes.push(Keyframe { image, prompt: String::new() });
}

/// Says so and returns `true` when the loaded model is known not to be 512_interp (the
/// storyboard's interpolation segments need it; a fixture model is let through).
fn wrong_model(app: &mut StudioApp) -> bool {
    let wrong = app.state.variant.is_some_and(|v| v != crate::model::config::Variant::V512Interp);
    if wrong {
        error(app, "storyboards need the 512_interp model", "Load DynamiCrafter 512_interp in the Model panel.");
    }
    wrong
}

/// Applies a storyboard action.
pub fn apply(app: &mut StudioApp, ctx: &egui::Context, a: StoryboardAction) {
    if !matches!(app.model, ModelStatus::Ready(_)) {
        return error(app, "no model is loaded", "Import or open a model in the Model panel first.");
    }
    match a {
        StoryboardAction::Queue => queue_board(app),
        StoryboardAction::Rerun { entry, index } => start_rerun(app, ctx, *entry, index),
        StoryboardAction::Continue(entry) => start_continue(app, ctx, *entry),
    }
}

/// A job for one storyboard segment with `settings` (its mode and seed set here).
fn segment_job(
    app: &mut StudioApp,
    mut settings: crate::pipeline::generate::Settings,
    keys: (&Keyframe, &Keyframe),
    seed: u64,
    part: Part,
) -> Job {
    settings.mode = Mode::Interpolation;
    settings.seed = seed;
    Job {
        id: app.next_id(),
        settings,
        image: keys.0.image.rgb.clone(),
        image2: Some(keys.1.image.rgb.clone()),
        fit: app.state.fit,
        input_hash: format!("{}+{}", keys.0.image.hash, keys.1.image.hash),
        cancel: Arc::new(AtomicBool::new(false)),
        vae_preview_every: app.state.vae_preview_every,
        sweep: None,
        part: Some(part),
    }
}

fn queue_board(app: &mut StudioApp) {
    let n = app.board.keyframes.len();
    if n < 2 {
        return error(app, "a storyboard needs two keyframes or more", "Add keyframes in the Storyboard panel.");
    }
    if wrong_model(app) {
        return;
    }
    let board = format!("board-{}", super::actions::random_seed());
    let looped = app.board.looped;
    let plan = segments(n, looped);
    if !app.state.seed_locked {
        app.state.settings.seed = super::actions::random_seed();
    }
    let base = app.state.settings.seed;
    let keys = app.board.keyframes.clone();
    for (index, &segment) in plan.iter().enumerate() {
        let part = Part::Storyboard { board: board.clone(), index, count: plan.len(), segment, looped };
        let mut settings = app.state.settings.clone();
        let own = &keys[segment.from].prompt;
        if !own.trim().is_empty() {
            settings.prompt = own.clone();
        }
        let seed = base.wrapping_add(index as u64);
        let job = segment_job(app, settings, (&keys[segment.from], &keys[segment.to]), seed, part);
        app.queue.push_back(Queued { job });
    }
    let hashes = keys.iter().map(|k| k.image.hash.clone()).collect();
    let kind = JoinKind::Storyboard { board: board.clone(), looped, segments: plan.clone(), keyframes: hashes };
    let images = keys.iter().map(|k| k.image.rgb.clone()).collect();
    app.board.builds.push(Build { key: board, kind, pieces: vec![Piece::Pending; plan.len()], keyframes: images });
    super::actions::start_next(app);
}

/// Gathers the keyframes of a storyboard entry (those still in the panel, the others from
/// the entry's folder, off the UI thread), then queues segment `index` again ([`poll`]).
fn start_rerun(app: &mut StudioApp, ctx: &egui::Context, entry: HistoryEntry, index: usize) {
    let Some(Joined { kind: JoinKind::Storyboard { segments: plan, keyframes, .. }, parts }) = &entry.record.joined
    else {
        return error(app, "this clip is not a storyboard", "");
    };
    if index >= plan.len().min(parts.len()) {
        return error(app, format!("the storyboard has no finished segment {}", index + 1), "");
    }
    if wrong_model(app) {
        return;
    }
    if app.board.rerunning.is_some() {
        return error(app, "a segment is already being prepared", "Wait a moment and press Re-run again.");
    }
    let in_panel: Vec<Option<Keyframe>> =
        keyframes.iter().map(|hash| app.board.keyframes.iter().find(|k| &k.image.hash == hash).cloned()).collect();
    let (e, hashes) = (entry.clone(), keyframes.clone());
    let read = move || -> Result<Vec<Keyframe>, String> {
        in_panel
            .into_iter()
            .zip(hashes)
            .enumerate()
            .map(|(i, (found, hash))| match found {
                Some(k) => Ok(k),
                None => {
                    let rgb = Arc::new(History::load_image(&e, &keyframe_file(i)).map_err(|x| {
                        format!("keyframe {} is neither in the Storyboard panel nor in the clip's folder ({x})", i + 1)
                    })?);
                    let image = InputImage { path: None, rgb: rgb.clone(), preview: rgb, hash };
                    Ok(Keyframe { image, prompt: String::new() })
                }
            })
            .collect()
    };
    match background::run(ctx, "rerun-read", read) {
        Ok(rx) => app.board.rerunning = Some(((Box::new(entry), index), rx)),
        Err(e) => error(app, format!("cannot read the keyframes: {e}"), ""),
    }
}

/// The name a storyboard entry keeps keyframe `i` (0-based) under.
fn keyframe_file(i: usize) -> String {
    format!("keyframe_{:02}.png", i + 1)
}

/// Queues segment `index` of a storyboard entry again (a new seed, the segment's own
/// settings), the other segments kept.
fn queue_rerun(app: &mut StudioApp, entry: HistoryEntry, index: usize, keys: Vec<Keyframe>) {
    let Some(Joined { kind: JoinKind::Storyboard { looped, segments: plan, keyframes, .. }, parts }) =
        entry.record.joined.clone()
    else {
        return;
    };
    let segment = plan[index];
    let mut pieces = Vec::with_capacity(parts.len());
    for id in &parts {
        match app.entries.iter().find(|e| &e.id == id) {
            Some(e) => pieces.push(Piece::Earlier(Box::new(e.clone()), None)),
            None => return error(app, format!("segment clip {id} is no longer in the history"), ""),
        }
    }
    // The segment's own settings (size, steps, guidance, prompt), a new seed.
    let Piece::Earlier(old, _) = std::mem::replace(&mut pieces[index], Piece::Pending) else { unreachable!() };
    let board = format!("board-{}", super::actions::random_seed());
    let part = Part::Storyboard { board: board.clone(), index, count: plan.len(), segment, looped };
    let settings = old.record.settings.clone();
    let job = segment_job(app, settings, (&keys[segment.from], &keys[segment.to]), super::actions::random_seed(), part);
    app.queue.push_back(Queued { job });
    let kind = JoinKind::Storyboard { board: board.clone(), looped, segments: plan, keyframes };
    let images = keys.iter().map(|k| k.image.rgb.clone()).collect();
    app.board.builds.push(Build { key: board, kind, pieces, keyframes: images });
    super::actions::start_next(app);
}

/// Reads the last frame of `entry` (off the UI thread), then queues the continuation
/// ([`poll`]).
fn start_continue(app: &mut StudioApp, ctx: &egui::Context, entry: HistoryEntry) {
    if app.board.continuing.is_some() {
        return error(
            app,
            "a clip is already being prepared for continuing",
            "Wait a moment and press Continue again.",
        );
    }
    let (w, h) = (app.state.settings.width as u32, app.state.settings.height as u32);
    if (entry.record.width, entry.record.height) != (w, h) {
        return error(
            app,
            format!(
                "this clip is {}×{}, the loaded model makes {w}×{h} clips: they cannot be joined",
                entry.record.width, entry.record.height
            ),
            "Load the model that made the clip to continue it.",
        );
    }
    if app.state.variant == Some(crate::model::config::Variant::V512Interp) {
        // The interp model makes image-to-video clips too, but it was not trained for them.
        app.notice = Some(Notice {
            text: "Continuing with the 512_interp model: its image-to-video clips are weaker".into(),
            advice: "The 512 model continues better (same size).".into(),
            is_error: false,
        });
    }
    let unsaved = app.unsaved.iter().find(|u| u.entry.id == entry.id).map(|u| u.frames());
    let e = entry.clone();
    let held = unsaved.clone();
    let read = move || match held {
        Some(f) => f.last().cloned().ok_or_else(|| "the clip has no frames".to_owned()),
        // Only the last frame file is read.
        None => crate::history::History::load_frame(&e, e.record.frames.saturating_sub(1)).map_err(|x| x.to_string()),
    };
    match background::run(ctx, "continue-read", read) {
        Ok(rx) => app.board.continuing = Some(((Box::new(entry), unsaved), rx)),
        Err(e) => error(app, format!("cannot read the clip: {e}"), ""),
    }
}

fn queue_continuation(app: &mut StudioApp, parent: HistoryEntry, held: Held, last: RgbImage) {
    let mut settings = app.state.settings.clone();
    settings.mode = Mode::ImageToVideo;
    if !app.state.seed_locked {
        app.state.settings.seed = super::actions::random_seed();
        settings.seed = app.state.settings.seed;
    }
    let crossfade = app.board.crossfade;
    let chain = format!("chain-{}", super::actions::random_seed());
    let last = Arc::new(last);
    let job = Job {
        id: app.next_id(),
        settings,
        image: last.clone(),
        image2: None,
        fit: app.state.fit,
        // The new job's input is exactly the parent's last frame.
        input_hash: digest(last.as_raw()),
        cancel: Arc::new(AtomicBool::new(false)),
        vae_preview_every: app.state.vae_preview_every,
        sweep: None,
        part: Some(Part::Continuation { parent: parent.id.clone(), chain: chain.clone(), crossfade }),
    };
    // A continued continuation extends the same chain (its earlier joins keep their blends).
    let whole = || (vec![Piece::Earlier(Box::new(parent.clone()), held.clone())], Vec::new());
    let (mut pieces, mut crossfades) = match &parent.record.joined {
        Some(Joined { kind: JoinKind::Continuation { crossfades }, parts }) if held.is_none() => {
            let found: Option<Vec<Piece>> = parts
                .iter()
                .map(|id| app.entries.iter().find(|e| &e.id == id).map(|e| Piece::Earlier(Box::new(e.clone()), None)))
                .collect();
            found.map_or_else(whole, |p| (p, crossfades.clone()))
        }
        _ => whole(),
    };
    pieces.push(Piece::Pending);
    crossfades.push(crossfade);
    app.board.builds.push(Build {
        key: chain,
        kind: JoinKind::Continuation { crossfades },
        pieces,
        keyframes: Vec::new(),
    });
    app.queue.push_back(Queued { job });
    super::actions::start_next(app);
}

/// A job of a storyboard or a continuation failed: the remaining parts leave the queue and
/// what finished is joined.
pub fn part_failed(app: &mut StudioApp, ctx: &egui::Context, part: &Part) {
    let key = part.key();
    let Some(pos) = app.board.builds.iter().position(|b| b.key == key) else { return };
    app.queue.retain(|q| !q.job.part.as_ref().is_some_and(|p| p.key() == key));
    let build = app.board.builds.remove(pos);
    let done: Vec<Piece> = build.pieces.into_iter().take_while(|p| !matches!(p, Piece::Pending)).collect();
    // Only a clip with a new part is worth a new entry (a stopped re-run or chain would
    // otherwise save a copy of what exists).
    if done.len() >= 2 && done.iter().any(|p| matches!(p, Piece::Made(..))) {
        join(app, ctx, Build { pieces: done, ..build });
    }
}

/// A job of a storyboard or a continuation finished: keep it; when every part is there
/// (or the user cancelled, keeping the finished parts), join them. `frames` are the job's.
pub fn part_finished(
    app: &mut StudioApp,
    ctx: &egui::Context,
    entry: &HistoryEntry,
    frames: &[RgbImage],
    cancelled: bool,
) {
    let Some(part) = entry.record.part.clone() else { return };
    let Some(pos) = app.board.builds.iter().position(|b| b.key == part.key()) else { return };
    if cancelled {
        // Cancel keeps what finished: the remaining segments leave the queue.
        part_failed(app, ctx, &part);
        return;
    }
    let build = &mut app.board.builds[pos];
    // A storyboard segment has its place; a continuation is the chain's last part.
    let slot = match part {
        Part::Storyboard { index, .. } => index,
        Part::Continuation { .. } => build.pieces.len() - 1,
    };
    if let Some(p) = build.pieces.get_mut(slot) {
        *p = Piece::Made(Box::new(entry.clone()), Arc::new(frames.to_vec()));
    }
    if build.pieces.iter().all(|p| !matches!(p, Piece::Pending)) {
        let build = app.board.builds.remove(pos);
        join(app, ctx, build);
    }
}

/// Joins a build's parts into one new history entry (off the UI thread).
fn join(app: &mut StudioApp, ctx: &egui::Context, build: Build) {
    let history: History = app.history.clone();
    let work = move || -> JoinResult {
        let mut entries = Vec::new();
        let mut parts = Vec::new();
        for p in &build.pieces {
            let (e, f) = match p {
                Piece::Made(e, f) => ((**e).clone(), f.to_vec()),
                Piece::Earlier(e, Some(f)) => ((**e).clone(), f.to_vec()),
                Piece::Earlier(e, None) => {
                    ((**e).clone(), history.load_frames(e).map_err(|x| format!("{}: {x}", e.id))?)
                }
                Piece::Pending => return Err("a part is missing".into()),
            };
            entries.push(e);
            parts.push(f);
        }
        let first = parts.first().and_then(|f| f.first()).ok_or("no frames")?;
        let (w, h) = (first.width(), first.height());
        if parts.iter().flatten().any(|f| f.dimensions() != (w, h)) {
            return Err("the parts have different sizes and cannot be joined".into());
        }
        let total: usize = parts.iter().map(Vec::len).sum();
        if !History::fits(total, w, h) {
            return Err(format!(
                "the joined clip would have about {total} frames of {w}×{h}: more than the history can play back \
                 (1024 frames, 256 Mpx); its parts are in the history"
            )
            .into());
        }
        let raw: Vec<Vec<Vec<u8>>> =
            parts.into_iter().map(|p| p.into_iter().map(RgbImage::into_raw).collect()).collect();
        let joined = Joined { kind: build.kind.clone(), parts: entries.iter().map(|e| e.id.clone()).collect() };
        let frames: Vec<RgbImage> = joined
            .frames(&raw)
            .into_iter()
            .map(|f| RgbImage::from_raw(w, h, f).ok_or_else(|| "a joined frame has the wrong size".to_owned()))
            .collect::<Result<_, _>>()?;
        let last = entries.last().ok_or(JoinError::from("no parts"))?;
        let record = HistoryRecord {
            input_hash: entries.iter().map(|e| e.record.input_hash.as_str()).collect::<Vec<_>>().join("|"),
            cancelled: false,
            steps_done: entries.iter().map(|e| e.record.steps_done).sum(),
            sweep: None,
            part: None,
            joined: Some(joined),
            ..last.record.clone()
        };
        let extras: Vec<(String, &RgbImage)> =
            build.keyframes.iter().enumerate().map(|(i, k)| (keyframe_file(i), k.as_ref())).collect();
        match history.save_with(record.clone(), &frames, &extras) {
            Ok(e) => Ok((e, frames)),
            Err(e) => Err(JoinError { message: e.to_string(), clip: Some((record, frames)) }),
        }
    };
    match background::run(ctx, "join", work) {
        Ok(rx) => app.board.joining.push(rx),
        Err(e) => error(app, format!("cannot join the clips: {e}"), ""),
    }
}

/// Takes finished reads and joins (called every frame).
pub fn poll(app: &mut StudioApp, ctx: &egui::Context) {
    match finished(&mut app.board.continuing) {
        Some(((entry, held), Ok(last))) => queue_continuation(app, *entry, held, last),
        Some((_, Err(e))) => error(app, format!("cannot continue: {e}"), ""),
        None => {}
    }
    match finished(&mut app.board.rerunning) {
        Some(((entry, index), Ok(keys))) => queue_rerun(app, *entry, index, keys),
        Some((_, Err(e))) => error(app, format!("cannot generate the segment again: {e}"), ""),
        None => {}
    }
    let mut i = 0;
    while i < app.board.joining.len() {
        match app.board.joining[i].try_recv() {
            Err(crossbeam_channel::TryRecvError::Empty) => i += 1,
            other => {
                app.board.joining.remove(i);
                match other {
                    Ok(Ok((entry, frames))) => {
                        app.entries.insert(0, entry.clone());
                        app.result = Some((
                            super::textures::Frames::new(ctx, &format!("entry-{}", entry.id), &frames),
                            Some(entry),
                        ));
                        app.ui.player.restart();
                    }
                    Ok(Err(JoinError { message, clip: Some((record, frames)) })) => {
                        // Kept in the player and exportable; *Save to history* retries.
                        let id = app.next_id();
                        let clip = super::unsaved::Unsaved::new(id, record, frames);
                        let textures = super::textures::Frames::new(ctx, &clip.entry.id, &clip.frames());
                        app.result = Some((textures, Some(clip.entry.clone())));
                        app.unsaved.push(clip);
                        let advice = "It stays in the player: export it, or free some space and press Save to history.";
                        error(app, format!("The joined clip is not in the history: {message}"), advice);
                    }
                    Ok(Err(JoinError { message, clip: None })) => {
                        error(app, format!("cannot join the clips: {message}"), "The parts are in the history.")
                    }
                    Err(_) => error(app, "the join stopped unexpectedly", "The parts are in the history."),
                }
            }
        }
    }
}
