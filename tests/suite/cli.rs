//! The subcommands through the real binary, as a user types them.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio")).args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn version_names_the_cargo_version() {
    let o = run(&["--version"]);
    assert!(o.status.success());
    let t = text(&o);
    assert!(t.starts_with(&format!("dynamicrafter-studio {}", env!("CARGO_PKG_VERSION"))), "{t}");
}

#[test]
fn selfcheck_on_the_cpu_agrees() {
    let o = run(&["selfcheck", "--backend", "cpu"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("every stage agrees"), "{t}");
}

/// The tiny fixture is a 512-family file that does not match the real 512 preset: inspect
/// says which variants it could be, and with `--variant` lists the mismatching tensors and
/// fails.
#[test]
fn inspect_reports_what_does_not_match() {
    let ckpt = crate::common::tiny_fixture().join("model.ckpt");
    let ckpt = ckpt.to_str().unwrap();
    let t = text(&run(&["inspect", ckpt]));
    assert!(t.contains("757 tensors") && t.contains("--variant 512"), "{t}");
    let o = run(&["inspect", ckpt, "--variant", "512"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("unexpected tensor"), "{}", text(&o));
}

/// Import's argument errors and a missing file: a usage message or one clear error line
/// (each cause said once), never a panic.
#[test]
fn import_argument_errors_are_clear() {
    let o = run(&["import"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("Usage"), "{}", text(&o));
    let o = run(&["import", "/nonexistent/model.ckpt"]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(t.starts_with("error: ") && t.contains("/nonexistent/model.ckpt"), "{t}");
    assert_eq!(t.matches("No such file or directory").count(), 1, "{t}");
    assert!(!t.contains("panicked"), "{t}");
}

/// `bench --stages` on a fixture directory prints the table, each stage with its ratio to
/// the baseline matmul measured in the same run; an unknown stage is refused by name.
#[test]
fn bench_stages_on_a_fixture_print_the_table() {
    let dir = crate::common::tiny_fixture();
    let dir = dir.to_str().unwrap();
    let args = ["bench", "--fixture", dir, "--backend", "cpu", "--precision", "f32", "--steps", "1"];
    let o = run(&[&args[..], &["--stages", "unet,decode"]].concat());
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let table: Vec<&str> = t.lines().skip_while(|l| !l.starts_with("stage")).take(4).collect();
    assert!(table.len() == 4 && table[0].contains("x base"), "{t}");
    assert!(table[1].starts_with("baseline: matmul"), "{t}");
    assert!(table[2].starts_with("UNet call (4×8×8 latent)") && table[3].starts_with("VAE decode"), "{t}");
    let o = run(&[&args[..], &["--stages", "unet,warp"]].concat());
    assert!(!o.status.success());
    assert!(text(&o).contains("unknown stage `warp`"), "{}", text(&o));
}

/// `bench --soak` through the worker: the memory table after 1 and N generations, and the
/// slope line; without a model file it says what it needs.
#[test]
fn bench_soak_reports_memory_per_generation() {
    let dir = crate::common::tiny_fixture();
    let o = run(&["bench", "--soak", "3", "--fixture", dir.to_str().unwrap(), "--backend", "cpu", "--steps", "1"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("RSS MB") && t.contains("slope after 2 warm-up generations"), "{t}");
    let rows: Vec<&str> = t.lines().filter(|l| l.trim_start().starts_with(['1', '3'])).collect();
    assert_eq!(rows.len(), 2, "{t}");
    let o = run(&["bench", "--soak", "3", "--backend", "cpu"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--fixture DIR or --model FILE"), "{}", text(&o));
}

/// `animate` through the binary, as the README shows it: the tiny fixture model, a GIF out,
/// a result line on stdout, no progress bar when stderr is not a terminal.
#[test]
fn animate_through_the_binary_writes_the_clip() {
    let dir = crate::common::tiny_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("clip.gif");
    let (model, config, image) = (dir.join("model.ckpt"), dir.join("config.json"), dir.join("input.png"));
    let o = run(&[
        "animate",
        "--model",
        model.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--image",
        image.to_str().unwrap(),
        "--prompt",
        "a cat in the grass",
        "--steps",
        "2",
        "--backend",
        "cpu",
        "--precision",
        "fp32",
        "--out",
        out.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(std::fs::read(&out).unwrap().starts_with(b"GIF89a"), "{t}");
    assert!(t.contains("wrote") && !t.contains("[#"), "{t}");
    // A precision clap does not know is refused with the choices.
    let o = run(&["animate", "--model", "m", "--image", "i", "--out", "o.gif", "--precision", "f8"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("possible values: auto, f16, f32"), "{}", text(&o));
}

/// `parity` through the binary on the tiny fixture, CPU backend: every case passes, with
/// the convolutions on either path (`--conv direct`, `--conv gemm`; f16 too for the matmul
/// path, which drops the direct path's f32 copies).
#[test]
fn parity_through_the_binary_passes_on_the_tiny_fixture() {
    let dir = crate::common::tiny_fixture();
    let dir = dir.to_str().unwrap();
    for extra in [&["--conv", "direct"][..], &["--conv", "gemm"], &["--conv", "gemm", "--precision", "f16"]] {
        let o = run(&[&["parity", dir, "--backend", "cpu"][..], extra].concat());
        let t = text(&o);
        assert!(o.status.success(), "{extra:?}: {t}");
        assert!(t.contains(" passed, 0 failed"), "{extra:?}: {t}");
    }
}

/// `bench --report` on a fixture (CPU): report.json and report.md with every stage, the
/// UNet call on both convolution paths with its FLOPs, the per-shape convolution choices
/// and the end-to-end generation.
#[test]
fn bench_report_writes_json_and_markdown() {
    let dir = crate::common::tiny_fixture();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("report");
    let o = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio"))
        .args(["bench", "--report", out.to_str().unwrap(), "--fixture", dir.to_str().unwrap()])
        .args(["--backend", "cpu", "--precision", "f32", "--memories", "balanced,low", "--warmup", "0"])
        .args(["--steps", "1", "--generation-steps", "2"])
        .env("DYNAMICRAFTER_CONV_CHOICES", "none")
        .output()
        .unwrap();
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let configs = json["configs"].as_array().unwrap();
    assert_eq!(configs.len(), 2, "balanced and low");
    let rows = configs[0]["rows"].as_array().unwrap();
    let stage =
        |s: &str| rows.iter().find(|r| r["stage"].as_str().unwrap().contains(s)).unwrap_or_else(|| panic!("{s}: {t}"));
    for s in [
        "baseline",
        "text encoder",
        "image encoder",
        "VAE encode",
        "conv direct",
        "conv gemm",
        "CFG step",
        "VAE decode",
    ] {
        assert!(stage(s)["seconds"].as_f64().unwrap() > 0.0, "{s}");
    }
    let (direct, gemm) =
        (stage("conv direct")["flops"].as_u64().unwrap(), stage("conv gemm")["flops"].as_u64().unwrap());
    assert!(direct > 0 && direct == gemm, "the same work either way: {direct} {gemm}");
    assert_eq!(stage("baseline")["flops"].as_u64(), Some(2 * 2048u64.pow(3)));
    assert!(!json["conv_choices"].as_array().unwrap().is_empty());
    assert_eq!(json["generation"]["steps"].as_u64(), Some(2));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| UNet call (4×8×8 latent, conv gemm) |") && md.contains("## Generation"), "{md}");
}

/// Without a Vulkan driver, the commands that need the GPU stop at once with what to install
/// (wgpu then offers only its OpenGL adapter, or none; burn's runtime hung on OpenGL before).
#[test]
fn without_a_vulkan_driver_the_gpu_commands_say_what_to_install() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = crate::common::tiny_fixture();
    let out = tmp.path().join("r");
    for args in [
        vec!["bench", "--report", out.to_str().unwrap(), "--fixture", dir.to_str().unwrap()],
        vec!["selfcheck", "--backend", "wgpu"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dynamicrafter-studio"))
            .args(&args)
            .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
            .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed().as_secs() > 120 {
                let _ = child.kill();
                panic!("{args:?} hung without a Vulkan driver");
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let o = child.wait_with_output().unwrap();
        let t = text(&o);
        assert!(!o.status.success(), "{args:?}: {t}");
        assert!(t.contains("libvulkan1") && !t.contains("panicked"), "{args:?}: {t}");
    }
}
