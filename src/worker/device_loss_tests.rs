//! A lost device, injected into the worker as a driver reset would make a read fail: the job
//! fails with the device-lost advice, the worker reloads the model on a fresh device by
//! itself, and the next job runs. Needs the tiny fixture (`../shared` or `$DC_SHARED`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};

use super::protocol::{Command, Event, Job, ModelSource};
use super::runner::{DEVICE_LOST_ADVICE, Runner};
use crate::device::Backend;
use crate::history::History;
use crate::pipeline::device_read::{DeviceRead, injection};
use crate::pipeline::generate::Settings;
use crate::pipeline::runtime::RunConfig;

fn tiny_fixture() -> PathBuf {
    let shared = std::env::var_os("DC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    let dir = shared.join("fixtures/tiny");
    assert!(dir.is_dir(), "the tiny fixture is not at {} (set DC_SHARED)", dir.display());
    dir
}

/// The next event that `pick` accepts, skipping progress and previews (fails after 120 s).
fn wait_for<T>(events: &Receiver<Event>, what: &str, pick: impl Fn(&Event) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let event = events.recv_timeout(left).unwrap_or_else(|e| panic!("no {what}: {e}"));
        if let Some(t) = pick(&event) {
            return t;
        }
        if let Event::ModelFailed { message } = &event {
            panic!("waiting for {what}, the model failed: {message}");
        }
    }
}

fn job(id: u64, settings: &Settings) -> Box<Job> {
    let image = image::open(tiny_fixture().join("input.png")).expect("fixture image").to_rgb8();
    Box::new(Job {
        id,
        settings: Settings { steps: 2, ..settings.clone() },
        image: Arc::new(image),
        image2: None,
        fit: Default::default(),
        input_hash: format!("job-{id}"),
        cancel: Arc::new(AtomicBool::new(false)),
        vae_preview_every: 0,
        sweep: None,
        part: None,
    })
}

#[test]
fn a_lost_device_fails_the_job_reloads_the_model_and_the_next_job_runs() {
    let dir = tiny_fixture();
    let tmp = tempfile::tempdir().expect("temp dir");
    let (commands, command_rx) = bounded(8);
    let (event_tx, events) = bounded(256);
    let thread = "device-loss-test-worker";
    let run = RunConfig { backend: Backend::Cpu, ..Default::default() };
    let history = History::new(tmp.path());
    let worker = std::thread::Builder::new()
        .name(thread.into())
        .spawn(move || Runner::new(run, history, None, event_tx, Arc::new(|| ())).run(command_rx))
        .expect("worker thread");

    let source = ModelSource::Fixture { checkpoint: dir.join("model.ckpt"), config: dir.join("config.json") };
    commands.send(Command::LoadModel(source)).expect("send");
    let defaults = wait_for(&events, "the loaded model", |e| match e {
        Event::ModelLoaded { defaults, .. } => Some(defaults.clone()),
        _ => None,
    });

    injection::fail_next_read(thread, DeviceRead::Lost("VK_ERROR_DEVICE_LOST (injected)".into()));
    commands.send(Command::Generate(job(1, &defaults))).expect("send");
    let (message, advice) = wait_for(&events, "the failed job", |e| match e {
        Event::Failed { job: 1, message, advice } => Some((message.clone(), advice.clone())),
        Event::Finished { job: 1, .. } => panic!("the job finished despite the lost device"),
        _ => None,
    });
    assert!(message.contains("VK_ERROR_DEVICE_LOST"), "{message}");
    assert_eq!(advice, DEVICE_LOST_ADVICE);
    // Reloaded without being asked.
    wait_for(&events, "the reload", |e| matches!(e, Event::ModelLoading { .. }).then_some(()));
    wait_for(&events, "the reloaded model", |e| matches!(e, Event::ModelLoaded { .. }).then_some(()));

    commands.send(Command::Generate(job(2, &defaults))).expect("send");
    let frames = wait_for(&events, "the next job", |e| match e {
        Event::Finished { job: 2, frames, .. } => Some(frames.len()),
        Event::Failed { job: 2, message, .. } => panic!("the job after the reload failed: {message}"),
        _ => None,
    });
    assert_eq!(frames, defaults.frames);
    commands.send(Command::Shutdown).expect("send");
    worker.join().expect("the worker ends");
}
