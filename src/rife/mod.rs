//! RIFE frame interpolation (IFNet of RIFE 4.7 and 4.9), on the same device as the model.
//!
//! * [`net`]: the network, `IFNet_HDv3` of the 4.7 architecture (4.7, 4.8 and 4.9 share it).
//! * [`warp`]: the backward warp, resizing, padding.
//! * [`weights`]: reading `rife47.pth` / `rife49.pth` (or an upstream `flownet.pkl`) through
//!   the safe checkpoint reader, and telling the version.
//! * [`sequence`]: ×N interpolation of a clip, one frame pair on the device at a time.
//!
//! References: ComfyUI-Frame-Interpolation `vfi_models/rife/rife_arch.py` (what ComfyUI's
//! *RIFE VFI* node runs) and vs-rife `IFNet_HDv3_v4_7.py` (ensemble); the goldens in
//! `tests/fixtures/rife-4.7`, `rife-4.9` come from those files (`generate_rife.py`).

pub mod net;
pub mod sequence;
pub mod warp;
pub mod weights;

pub use net::{IFNet, Options, Trace};
pub use sequence::{InterpolateError, interpolate_clip, output_frames};
pub use weights::{RifeError, RifeVersion, load_rife};

/// The `scale` values the reference accepts (ComfyUI's `scale_factor`, vs-rife's `scale`):
/// the flow is estimated at `1/scale`-relative resolutions `[8, 4, 2, 1] / scale`.
pub const SCALES: [f32; 5] = [0.25, 0.5, 1.0, 2.0, 4.0];
