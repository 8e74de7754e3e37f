//! The optional `.json` sidecar: the generation settings plus what was exported.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::export::clip::Format;
use crate::export::options::ExportOptions;
use crate::export::sequence::Sequence;

/// The sidecar of `output`: its name with `.json` appended (`clip.gif` → `clip.gif.json`,
/// folder `frames` → `frames.json`), so that exports of one clip in several formats do not
/// collide.
pub fn sidecar_path(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_else(|| "export".into());
    name.push(".json");
    output.with_file_name(name)
}

/// The sidecar's JSON: `settings` holds `opts.metadata` (parsed if it is JSON, else as a
/// string, `null` if absent); `export` describes the written file.
pub fn sidecar_json(format: Format, seq: &Sequence<'_>, opts: &ExportOptions) -> String {
    let settings = match opts.metadata.as_deref() {
        None => Value::Null,
        Some(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.to_owned())),
    };
    let v = json!({
        "generator": "DynamiCrafter Studio",
        "settings": settings,
        "export": {
            "format": format.name(),
            "width": seq.width,
            "height": seq.height,
            "frames": seq.len(),
            "fps": opts.fps,
            "ping_pong": opts.ping_pong,
            "trim_loop": opts.trim_loop,
            "scale": opts.scale,
            "range": opts.range.as_ref().map(|r| [r.start, r.end]),
        },
    });
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
