//! Ingest: pulls RTSP cameras through GStreamer, decodes them (hardware decoder when present) and
//! hands full-resolution frames to analysis at a bounded rate, reconnecting by itself.
//! Also the built-in test cameras' RTSP server (`testcam`) that the demo, tests and benchmarks use.
//!
//! Owns: RTSP ingest (GStreamer graphs, decoder choice, reconnects, status) and the test-camera
//! RTSP server. May not touch: analysis, the store or the API; the pictures come from `custos-synth`.

mod camera;
pub mod clock;
pub mod config;
mod decoder;
mod error;
mod ingest;
pub mod status;
pub mod testcam;

pub use config::{CameraConfig, CameraSettings, IngestDefaults, SecretRef, Transport};
pub use error::{ConfigError, IngestError, UrlError};
pub use ingest::{Ingest, init};
pub use status::{CameraState, CameraStatus};
