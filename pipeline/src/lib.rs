//! Ingest: pulls RTSP cameras through GStreamer, decodes them (hardware decoder when present) and
//! hands full-resolution frames to analysis at a bounded rate, reconnecting by itself.
//! Also the built-in test cameras (`testcam`) that the demo, tests and benchmarks use.

mod camera;
pub mod clock;
pub mod config;
mod decoder;
mod error;
mod ingest;
pub mod status;
pub mod testcam;

pub use config::{CameraConfig, CameraSettings, IngestDefaults, SecretRef, Transport};
pub use error::{ConfigError, IngestError};
pub use ingest::{Ingest, init};
pub use status::{CameraState, CameraStatus};
