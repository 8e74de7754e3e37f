//! The one way the app does work off the UI thread: a named thread whose single result arrives
//! on a channel, then a repaint, so the next frame takes it at once.

use crossbeam_channel::{Receiver, bounded};

/// Runs `work` on a thread named `name`; its result arrives on the returned channel and the
/// window repaints. Fails only when the system cannot start a thread.
pub fn run<T: Send + 'static>(
    ctx: &egui::Context,
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<Receiver<T>> {
    let (tx, rx) = bounded(1);
    let repaint = ctx.clone();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let _ = tx.send(work());
        repaint.request_repaint();
    })?;
    Ok(rx)
}
