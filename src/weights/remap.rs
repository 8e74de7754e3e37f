//! The one key-remap table between checkpoint names and the module tree.
//!
//! Every other name is used verbatim: Rust fields are named after the checkpoint
//! (`in_layers`, `temopral_conv`, `to_k_ip`, …).

/// `(from, to)` prefix rules, applied once to every key of a checkpoint.
///
/// | from | to | why |
/// |---|---|---|
/// | `model.diffusion_model.framestride_embed.` | `model.diffusion_model.fps_embedding.` | the 256 release names the fs MLP `framestride_embed`; the reference renames it after a failed strict load (`scripts/evaluation/inference.py:33-45`, spec §3.1) |
/// | `module.` | (nothing) | Practical-RIFE's `flownet.pkl` keeps the `DistributedDataParallel` prefix; its loader strips it (`inference_video.py` `load_model`); ComfyUI's `rife47.pth`/`rife49.pth` have none |
///
/// DeepSpeed files (`module` top-level key) lose their 16-character `_forward_module.`
/// prefix in the reader, as the reference loader does (spec §10).
pub const KEY_REMAP: &[(&str, &str)] =
    &[("model.diffusion_model.framestride_embed.", "model.diffusion_model.fps_embedding."), ("module.", "")];

/// Applies [`KEY_REMAP`] to one key; `None` when no rule matches.
pub fn remap_key(key: &str) -> Option<String> {
    KEY_REMAP.iter().find_map(|(from, to)| key.strip_prefix(from).map(|rest| format!("{to}{rest}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framestride_is_renamed() {
        assert_eq!(
            remap_key("model.diffusion_model.framestride_embed.0.weight").as_deref(),
            Some("model.diffusion_model.fps_embedding.0.weight")
        );
        assert_eq!(remap_key("model.diffusion_model.time_embed.0.weight"), None);
        assert_eq!(remap_key("module.block0.conv0.0.0.weight").as_deref(), Some("block0.conv0.0.0.weight"));
    }
}
