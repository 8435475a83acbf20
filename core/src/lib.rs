//! The domain types every Custos stage speaks. Nothing heavy lives here (no GStreamer, wgpu, ort,
//! redb or tonic), so each stage can be built, tested and benchmarked alone.

mod camera;
mod frame;
mod plate;

pub use camera::{CameraId, CameraIdError};
pub use frame::{Frame, FrameFormat, Plane, PlaneError};
pub use plate::normalize_plate;
