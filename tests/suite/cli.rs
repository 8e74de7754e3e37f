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
