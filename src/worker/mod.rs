//! The model worker: one thread that owns the device, the model and the pipeline.
//!
//! The UI talks to it only through [`protocol::Command`] and [`protocol::Event`] on bounded
//! channels, so the UI thread never blocks on the model.

#[cfg(test)]
mod device_loss_tests;
pub mod protocol;
pub mod runner;

use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::history::History;
use crate::pipeline::runtime::RunConfig;
use protocol::{Command, Event};
use runner::Runner;

/// Commands waiting for the worker (generation requests queue in the UI, not here).
const COMMAND_CAPACITY: usize = 16;
/// Events waiting for the UI; previews beyond this are dropped.
const EVENT_CAPACITY: usize = 64;

/// The UI's handle on the worker.
#[derive(Debug)]
pub struct WorkerHandle {
    pub commands: Sender<Command>,
    pub events: Receiver<Event>,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    /// Starts the worker under `run` (backend, precision, memory). `wake` is called after
    /// every event (the app passes `ctx.request_repaint`). Imports and downloads go to
    /// `models`.
    pub fn spawn(
        run: RunConfig,
        history: History,
        models: Option<std::path::PathBuf>,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> std::io::Result<Self> {
        let (ctx, crx) = bounded(COMMAND_CAPACITY);
        let (etx, erx) = bounded(EVENT_CAPACITY);
        let thread = std::thread::Builder::new()
            .name("dynamicrafter-worker".into())
            .spawn(move || Runner::new(run, history, models, etx, std::sync::Arc::new(wake)).run(crx))?;
        Ok(Self { commands: ctx, events: erx, thread: Some(thread) })
    }

    /// Sends a command; `false` if the worker is gone or its queue is full.
    pub fn send(&self, cmd: Command) -> bool {
        self.commands.try_send(cmd).is_ok()
    }

    /// Whether the worker thread is still running.
    pub fn is_alive(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// If the thread has ended, why (its panic message, or that it stopped); `None` while
    /// it runs. Reports an ended thread once.
    pub fn exit_reason(&mut self) -> Option<String> {
        if !self.thread.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        Some(match self.thread.take()?.join() {
            Ok(()) => "it stopped".to_owned(),
            Err(p) => format!("it crashed: {}", crate::panic_message(&*p)),
        })
    }
}

impl Drop for WorkerHandle {
    fn drop(&mut self) {
        let _ = self.commands.try_send(Command::Shutdown);
        // Do not join: a long UNet call would block closing the window. The thread ends
        // after its current command; the OS reclaims it at exit.
        self.thread.take();
    }
}
