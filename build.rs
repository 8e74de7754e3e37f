//! Build script: the version line that `--version` and the About dialog print (with the git
//! commit when built from a clone), and on Windows the icon and version information
//! embedded in the `.exe`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DC_COMMIT");
    // A release workflow may build from an archive without `.git`: it can pass the commit.
    let commit = std::env::var("DC_COMMIT").ok().filter(|c| !c.is_empty()).or_else(git_commit).unwrap_or_default();
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let line = if commit.is_empty() { version } else { format!("{version} (commit {commit})") };
    println!("cargo:rustc-env=DC_COMMIT={commit}");
    println!("cargo:rustc-env=DC_VERSION_LINE={line}");

    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("windows") {
        println!("cargo:rerun-if-changed=packaging/windows/icon.ico");
        let mut res = winresource::WindowsResource::new();
        res.set_icon("packaging/windows/icon.ico")
            .set("ProductName", "DynamiCrafter Studio")
            .set("FileDescription", "DynamiCrafter Studio")
            .set("LegalCopyright", "Apache-2.0; third-party notices in THIRD-PARTY-NOTICES.txt");
        if let Err(e) = res.compile() {
            // No resource compiler: the build still works, without the icon in Explorer.
            println!("cargo:warning=no Windows resources embedded (icon, version info): {e}");
        }
    }
}

/// The short commit of the checkout, and rerun triggers for when it moves.
fn git_commit() -> Option<String> {
    let git_dir = run_git(&["rev-parse", "--git-dir"])?;
    for f in ["HEAD", "packed-refs", "refs/heads"] {
        let p = std::path::Path::new(&git_dir).join(f);
        if p.exists() {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    run_git(&["rev-parse", "--short=10", "HEAD"])
}

fn run_git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}
