//! Who the app is: one app id, one display name, the version line and the data folder.
//!
//! The app id is the reverse-DNS name the desktop knows the app by: the `.desktop` file's
//! name and `StartupWMClass`, the AppStream `<id>`, the icon's name and the window's
//! Wayland `app_id` / X11 class (`packaging/` uses the same string; a test checks that
//! every packaging file agrees). The data folder predates the app id and does not move
//! with it: users' models, history and window settings stay where they are.

use std::path::PathBuf;

/// Reverse-DNS application id (a valid D-Bus name).
pub const APP_ID: &str = "io.github.dynamicrafter_studio.DynamiCrafterStudio";

/// The name shown in title bars, menus and dialogs.
pub const APP_NAME: &str = "DynamiCrafter Studio";

/// The executable's name (and the Linux packages').
pub const BIN_NAME: &str = "dynamicrafter-studio";

/// The version from `Cargo.toml`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from (empty outside a git checkout).
pub const COMMIT: &str = env!("DC_COMMIT");

/// `0.1.0` or `0.1.0 (commit 1a2b3c4d5e)`: what `--version` and the About dialog print.
pub const VERSION_LINE: &str = env!("DC_VERSION_LINE");

/// The window icon (256 px, rendered from `assets/icon.svg` by `packaging/icons.sh`).
pub const ICON_PNG: &[u8] = include_bytes!("../assets/icon-256.png");

/// The licences of everything compiled into the binary besides our own code (generated from
/// `Cargo.lock` by `packaging/notices.sh` with cargo-about; a test checks it lists every
/// crate in the lock file).
pub const THIRD_PARTY_NOTICES: &str = include_str!("../packaging/THIRD-PARTY-NOTICES.txt");

/// The platform's per-user data folder, e.g. `~/.local/share/dynamicrafter-studio` on Linux,
/// `%APPDATA%\DynamiCrafter Studio\dynamicrafter-studio\data` on Windows.
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("org", APP_NAME, BIN_NAME).map(|d| d.data_dir().to_path_buf())
}

/// Where eframe keeps the window and settings (`app.ron`): the folder eframe chose from the
/// app's name before it had an app id, so settings survive the id.
pub fn settings_file() -> Option<PathBuf> {
    eframe::storage_dir(APP_NAME).map(|d| d.join("app.ron"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A D-Bus well-known name: at least two dot-separated elements of `[A-Za-z0-9_]`
    /// (hyphens are allowed by D-Bus but discouraged by the desktop specs), none starting
    /// with a digit, 255 bytes at most.
    #[test]
    fn the_app_id_is_a_valid_dbus_name() {
        let parts: Vec<&str> = APP_ID.split('.').collect();
        assert!(parts.len() >= 3 && APP_ID.len() <= 255, "{APP_ID}");
        for p in parts {
            assert!(!p.is_empty() && !p.starts_with(|c: char| c.is_ascii_digit()), "element {p:?}");
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "element {p:?}");
        }
    }

    #[test]
    fn the_version_line_starts_with_the_cargo_version() {
        assert!(VERSION_LINE.starts_with(VERSION));
        if !COMMIT.is_empty() {
            assert!(VERSION_LINE.contains(COMMIT));
        }
    }

    #[test]
    fn the_data_folder_has_not_moved() {
        let d = data_dir().expect("a home folder");
        if cfg!(target_os = "linux") {
            assert!(d.ends_with("dynamicrafter-studio"), "{}", d.display());
        }
    }

    /// The notices are generated from `Cargo.lock` (`packaging/notices.sh`): every crate they
    /// list must be in the lock file at that version (an upgrade makes them stale), and every
    /// direct dependency must be listed (a new one is not yet in them).
    #[test]
    fn the_notices_list_every_crate_in_the_lock_file() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("Cargo.lock");
        let mut locked = std::collections::HashSet::new();
        let mut name = None;
        for line in lock.lines() {
            if let Some(n) = line.strip_prefix("name = ") {
                name = Some(n.trim_matches('"').to_string());
            } else if let (Some(v), Some(n)) = (line.strip_prefix("version = "), name.take()) {
                locked.insert(format!("{n} {}", v.trim_matches('"')));
            }
        }
        let listed: Vec<&str> = THIRD_PARTY_NOTICES
            .lines()
            .skip_while(|l| *l != "Crates")
            .skip(2)
            .take_while(|l| !l.is_empty())
            .map(|l| l.split(':').next().unwrap_or_default())
            .collect();
        assert!(listed.len() > 100, "the notices list {} crates: run packaging/notices.sh", listed.len());
        let stale: Vec<&&str> = listed.iter().filter(|c| !locked.contains(**c)).collect();
        assert!(stale.is_empty(), "not in Cargo.lock (run packaging/notices.sh): {stale:?}");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        let direct = manifest
            .lines()
            .skip_while(|l| *l != "[dependencies]")
            .skip(1)
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split_once(" = ").map(|(n, _)| n.trim()))
            .filter(|n| !n.starts_with('#'));
        for dep in direct {
            assert!(
                listed.iter().any(|c| c.split(' ').next() == Some(dep)),
                "{dep} is not in the notices: run packaging/notices.sh"
            );
        }
    }

    /// The packaging files name the app as `APP_ID` does.
    #[test]
    fn the_packaging_files_use_the_app_id() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging");
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
        assert!(read("identity.sh").contains(&format!("APP_ID={APP_ID}\n")));
        let desktop = read(&format!("linux/{APP_ID}.desktop"));
        assert!(desktop.contains(&format!("Icon={APP_ID}\n")));
        assert!(desktop.contains(&format!("StartupWMClass={APP_ID}\n")));
        assert!(desktop.contains(&format!("Exec={BIN_NAME} %F\n")));
        let mime = desktop.lines().find_map(|l| l.strip_prefix("MimeType=")).expect("MimeType=");
        for t in ["image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "image/gif"] {
            assert!(mime.split(';').any(|m| m == t), "{t} missing from MimeType");
        }
        let metainfo = read(&format!("linux/{APP_ID}.metainfo.xml"));
        assert!(metainfo.contains(&format!("<id>{APP_ID}</id>")));
        assert!(metainfo.contains(&format!("<release version=\"{VERSION}\"")), "no release entry for {VERSION}");
    }

    #[test]
    fn the_window_icon_decodes() {
        let icon = eframe::icon_data::from_png_bytes(ICON_PNG).expect("a PNG");
        assert_eq!((icon.width, icon.height), (256, 256));
    }
}
