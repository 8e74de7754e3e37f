//! Files handed to the app, by a file manager's *Open with* (the command line), a drop onto
//! the window, or the file dialogs: images go to the image slots, checkpoints to the import.

use std::path::{Path, PathBuf};

use super::action::Action;
use super::session::Notice;
use crate::model::config::Variant;
use crate::pipeline::conditioning::Mode;

use crate::imaging::load::IMAGE_EXTENSIONS;
use crate::weights::checkpoint::MODEL_EXTENSIONS;

/// What a file is to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Image,
    Model,
    Other,
}

/// The kind of `path`, by its extension (case-insensitive).
pub fn kind(path: &Path) -> FileKind {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    if IMAGE_EXTENSIONS.contains(&ext.as_str()) {
        FileKind::Image
    } else if MODEL_EXTENSIONS.contains(&ext.as_str()) {
        FileKind::Model
    } else {
        FileKind::Other
    }
}

/// The intents for a list of files: the first image fills the image slot and a second the
/// last-frame slot (switching to *Interpolate* where the model allows it); three images or
/// more become the storyboard's keyframes, in order; the first checkpoint starts the import
/// (the file decides which model it is). Anything else, and files beyond those, are named in
/// one notice.
pub fn actions(paths: &[PathBuf], variant: Option<Variant>, mode: Mode) -> Vec<Action> {
    let images: Vec<&PathBuf> = paths.iter().filter(|p| kind(p) == FileKind::Image).collect();
    if images.len() >= 3 {
        let mut out: Vec<Action> = images.iter().map(|p| Action::AddKeyframe((*p).clone())).collect();
        let rest: Vec<PathBuf> = paths.iter().filter(|p| kind(p) != FileKind::Image).cloned().collect();
        out.push(Action::Notify(Notice {
            text: format!("{} keyframes added to the storyboard", images.len()),
            advice: "Open the Storyboard section to order them and generate.".into(),
            is_error: false,
        }));
        if !rest.is_empty() {
            out.extend(actions(&rest, variant, mode));
        }
        return out;
    }
    let mut out = Vec::new();
    let mut images = 0;
    let mut model = false;
    let mut ignored = Vec::new();
    for p in paths {
        match kind(p) {
            FileKind::Image if images < 2 => {
                out.push(Action::SetImage { second: images == 1, path: p.clone() });
                images += 1;
            }
            FileKind::Model if !model => {
                out.push(Action::Import { path: p.clone(), variant: None });
                model = true;
            }
            _ => ignored.push(p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()),
        }
    }
    let interp_ok = matches!(variant, None | Some(Variant::V512Interp));
    if images == 2 && mode != Mode::Interpolation {
        if interp_ok {
            out.push(Action::SetMode(Mode::Interpolation));
        } else {
            ignored.clear(); // one notice: this one says more
            out.push(Action::Notify(Notice {
                text: "the second image is the last frame of an interpolation".into(),
                advice: "Interpolation needs the 512_interp model: load it, then choose Mode ▸ Interpolate.".into(),
                is_error: false,
            }));
        }
    }
    if !ignored.is_empty() {
        out.push(Action::Notify(Notice {
            text: format!("not opened: {}", ignored.join(", ")),
            advice: format!(
                "Open one or two images ({}) or one checkpoint ({}).",
                IMAGE_EXTENSIONS.join(", "),
                MODEL_EXTENSIONS.join(", ")
            ),
            is_error: false,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    #[test]
    fn images_fill_the_slots_and_a_checkpoint_imports() {
        let a = actions(&[p("/a/one.PNG"), p("/a/two.jpeg"), p("/m/model.ckpt")], None, Mode::ImageToVideo);
        assert!(matches!(&a[0], Action::SetImage { second: false, path } if path.ends_with("one.PNG")));
        assert!(matches!(&a[1], Action::SetImage { second: true, path } if path.ends_with("two.jpeg")));
        assert!(matches!(&a[2], Action::Import { path, variant: None } if path.ends_with("model.ckpt")));
        assert!(matches!(&a[3], Action::SetMode(Mode::Interpolation)));
        assert_eq!(a.len(), 4);
    }

    #[test]
    fn one_image_keeps_the_mode_and_others_are_named() {
        let a = actions(&[p("x.webp"), p("notes.txt")], Some(Variant::V512), Mode::ImageToVideo);
        assert!(matches!(&a[0], Action::SetImage { second: false, .. }));
        assert!(matches!(&a[1], Action::Notify(n) if n.text.contains("notes.txt") && !n.is_error));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn three_images_become_keyframes_in_order() {
        let a = actions(&[p("1.png"), p("m.ckpt"), p("2.png"), p("3.png")], None, Mode::ImageToVideo);
        let keys: Vec<_> = a
            .iter()
            .filter_map(|x| match x {
                Action::AddKeyframe(p) => Some(p.display().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(keys, ["1.png", "2.png", "3.png"]);
        assert!(a.iter().any(|x| matches!(x, Action::Import { .. })));
    }

    #[test]
    fn two_images_without_the_interpolation_model_say_why() {
        let a = actions(&[p("a.png"), p("b.png")], Some(Variant::V512), Mode::ImageToVideo);
        assert!(matches!(&a[1], Action::SetImage { second: true, .. }));
        assert!(matches!(&a[2], Action::Notify(n) if n.advice.contains("512_interp")));
    }
}
