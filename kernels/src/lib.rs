//! Plate localisation and crop kernels: a `Localizer` trait with wgpu (WGSL) and native CPU
//! backends that find plate candidates in frames from many cameras and cut, straighten and
//! normalise each into the OCR batch.
//!
//! Per frame: luma plane → 2× pyramid → a small convolutional detector on levels 1–3 (these run
//! on the backend) → score threshold, box decoding, NMS (shared CPU code, on small maps) →
//! candidates → per candidate a homography warp, resize and normalise into the caller's batch
//! buffer (on the backend).
//!
//! Owns: plate localisation and crop kernels behind [`Localizer`]. May not touch: OCR, tracking,
//! the store, the network, or evaluation data (measuring lives in `custos-eval`).

mod backend;
pub mod batch;
pub mod boxes;
pub mod detector;
mod error;
mod localize;
mod luma;
mod map;
pub mod native;
mod params;
pub mod warp;
#[path = "wgpu/mod.rs"]
pub mod wgpu_backend;

pub use backend::{BackendChoice, BackendInfo, BackendKind, open};
pub use batch::{BatchOutput, CropJob, CropSpec};
pub use detector::DetectorModel;
pub use error::KernelError;
pub use localize::{FrameMaps, Localizer};
pub use luma::{LumaView, MAX_SIDE};
pub use map::{Map, Tensor};
pub use native::NativeLocalizer;
pub use params::DetectParams;
pub use wgpu_backend::WgpuLocalizer;
