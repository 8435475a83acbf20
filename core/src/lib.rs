//! The domain types every Custos stage speaks. Nothing heavy lives here (no GStreamer, wgpu, ort,
//! redb or tonic), so each stage can be built, tested and benchmarked alone.
//!
//! Owns: camera ids, frames, candidates, plate texts, regions, edit distance, plane geometry.
//! May not touch: any I/O, thread, GPU, model, database or network; it depends on nothing heavy.

#![warn(missing_docs)]

mod camera;
mod candidate;
mod distance;
mod frame;
pub mod geometry;
mod plate;
pub mod polygon;
mod region;
mod text;

pub use camera::{CameraId, CameraIdError};
pub use candidate::{Candidate, Quad, iou};
pub use distance::{edit_distance, levenshtein, within_edits};
pub use frame::{Frame, FrameFormat, Plane, PlaneError};
pub use plate::normalize_plate;
pub use region::{Region, UnknownRegion};
pub use text::{CharRead, PlateText};
