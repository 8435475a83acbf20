//! Measuring the product on labelled real data (`../shared/data`): one reader for its
//! tab-separated manifests, JPEG decoding to luma, and scoring plate candidates against boxes.
//!
//! Owns evaluation only, behind `custos eval` and the benchmarks. May not touch the product path:
//! nothing in ingest → analysis → store depends on it, so its decoders never run on live data.

pub mod detect;
pub mod manifest;

pub use detect::*;
