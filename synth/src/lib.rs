//! Synthetic data with ground truth: licence plates (texts in each region's formats, fonts,
//! designs, rendering) and the moving road scene the test cameras film.
//!
//! Owns pictures and their truth only. May not touch GStreamer, the network, the store or the
//! models: the test-camera server (`custos-pipeline`), `plategen` and the benchmarks consume it.

pub mod plate;
mod resolution;
pub mod scene;

pub use resolution::Resolution;
