//! `dynamicrafter-studio`: the app, and its headless subcommands.

// A release build on Windows is a GUI program (no console window beside the app); the
// subcommands attach to the console they were started from (`console::attach_parent`).
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use dynamicrafter_studio::cli;
use dynamicrafter_studio::device::{Backend, Precision};
use dynamicrafter_studio::model::conv::{self, ConvPath};
use dynamicrafter_studio::pipeline::memory::MemoryMode;

#[derive(Debug, Parser)]
#[command(
    name = "dynamicrafter-studio",
    version = dynamicrafter_studio::identity::VERSION_LINE,
    about = "Turn a still image into a short animated video, offline",
    args_conflicts_with_subcommands = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<CliCommand>,
    /// Files to open, as a file manager passes them: images fill the image slot (two fill
    /// the first and last frame for interpolation); a `.ckpt`, `.pt`, `.pth` or
    /// `.safetensors` starts the import.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Backend of the app's model worker (`wgpu` or `cpu`).
    #[arg(long)]
    backend: Option<Backend>,
    /// Load this fixture-style model at start: a checkpoint and its `config.json`.
    #[arg(long, num_args = 2, value_names = ["CHECKPOINT", "CONFIG"])]
    fixture_model: Option<Vec<PathBuf>>,
    /// Start the app with this input image.
    #[arg(long)]
    image: Option<PathBuf>,
    /// Choose files in the studio's own browser instead of the system's file dialog (which a
    /// desktop without xdg-desktop-portal lacks; the studio then uses its browser anyway).
    #[arg(long)]
    in_app_file_browser: bool,
    /// How 2-D convolutions run: `direct` (burn's conv2d kernel), `gemm` (unfolded windows
    /// times the kernel matrix, burn's tiled matmul) or `auto` (measure both once per layer
    /// shape on this GPU and remember the faster).
    #[arg(long, global = true, default_value = "auto")]
    conv: ConvPath,
}

#[derive(Debug, Subcommand)]
enum CliCommand {
    /// Check a golden-fixture directory stage by stage against the reference.
    Parity {
        /// A directory in the layout of `fixtures/README.md`.
        fixture_dir: PathBuf,
        /// `cpu` or `wgpu`.
        #[arg(long, default_value = "cpu")]
        backend: Backend,
        /// `f32` (reference bounds), `f16` (stated f16 bounds, f32 errors shown beside) or `auto`.
        #[arg(long, default_value = "f32")]
        precision: Precision,
        /// `balanced` keeps every component on the backend; `low` runs the encoders on the CPU.
        #[arg(long, default_value = "balanced")]
        memory: MemoryMode,
        /// Check this checkpoint or cache (e.g. from `import --config`) instead of the
        /// fixture's own `model.ckpt`.
        #[arg(long)]
        model: Option<PathBuf>,
    },
    /// Check that this machine's GPU computes every stage of the model correctly: a small
    /// random-weight model runs on `--backend` and on the CPU, and each stage is compared.
    Selfcheck {
        /// `wgpu` (your GPU) or `cpu`.
        #[arg(long, default_value = "wgpu")]
        backend: Backend,
        /// `f32`, `f16` or `auto` (what the app would use).
        #[arg(long, default_value = "auto")]
        precision: Precision,
    },
    /// Animate an image: one generation written as a GIF or a PNG folder.
    Animate(Box<cli::animate::AnimateArgs>),
    /// Time every stage of a preset with random weights (no checkpoint needed).
    Bench(cli::bench::BenchArgs),
    /// Download an official model (resumable, verified), then import it.
    Download(cli::download::DownloadArgs),
    /// Import an official checkpoint into the model cache.
    Import(cli::import::ImportArgs),
    /// List the tensors of a checkpoint and check them against a preset.
    Inspect(cli::inspect::InspectArgs),
    /// Make a clip smoother: RIFE frame interpolation ×2, ×4… of a GIF or a frame folder.
    Interpolate(cli::interpolate::InterpolateArgs),
}

fn main() -> ExitCode {
    dynamicrafter_studio::cli::console::attach_parent();
    let args = Args::parse();
    conv::set_path(args.conv);
    let result = match args.command {
        None => {
            let model = args.fixture_model.map(|v| dynamicrafter_studio::worker::protocol::ModelSource::Fixture {
                checkpoint: v[0].clone(),
                config: v[1].clone(),
            });
            cli::app(dynamicrafter_studio::app::AppOptions {
                backend: args.backend,
                model,
                image: args.image,
                files: args.files,
                in_app_file_browser: args.in_app_file_browser,
                ..Default::default()
            })
        }
        Some(CliCommand::Parity { fixture_dir, backend, precision, memory, model }) => {
            cli::parity(&fixture_dir, dynamicrafter_studio::parity::ParityOptions { backend, precision, memory, model })
        }
        Some(CliCommand::Selfcheck { backend, precision }) => cli::selfcheck(backend, precision),
        Some(CliCommand::Animate(a)) => cli::animate::run(&a),
        Some(CliCommand::Bench(a)) => cli::bench::run(&a),
        Some(CliCommand::Import(a)) => cli::import::run(&a),
        Some(CliCommand::Download(a)) => cli::download::run(&a),
        Some(CliCommand::Inspect(a)) => cli::inspect::run(&a),
        Some(CliCommand::Interpolate(a)) => cli::interpolate::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, each cause once: our errors often name their cause in their own
/// message already.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !text.contains(&c) {
            text = format!("{text}: {c}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's flags are distinct (clap checks this only when a command runs).
    #[test]
    fn the_command_line_is_consistent() {
        super::Args::command().debug_assert();
    }
}
