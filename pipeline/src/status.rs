//! What each camera is doing, for the CLI, metrics and the gRPC cameras API.

use std::sync::{Arc, Mutex};

use custos_core::CameraId;
use serde::Serialize;

use crate::config::Transport;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    /// Configured with `enabled = false`.
    Disabled,
    /// Pipeline built, waiting for the first frame.
    Connecting,
    /// Frames are arriving.
    Streaming,
    /// Last attempt failed; waiting before the next one.
    Backoff,
    Stopped,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraStatus {
    pub id: CameraId,
    pub name: String,
    /// The URL without credentials.
    pub url: String,
    pub transport: Transport,
    pub state: CameraState,
    /// Decoder element in use (e.g. `avdec_h264`, `nvh264dec`), once the stream's codec is known.
    pub decoder: Option<String>,
    pub width: u32,
    pub height: u32,
    pub frames_decoded: u64,
    /// Handed to analysis.
    pub frames_analysed: u64,
    /// Decoded but not analysed because of the analysis rate.
    pub frames_skipped: u64,
    /// Lost because a consumer was too slow (the appsink's newest-frame-wins queue or a full
    /// analysis queue).
    pub frames_dropped: u64,
    pub reconnects: u64,
    /// Decoded frames per second over the last second or so.
    pub fps: f64,
    /// The last fault, credentials removed.
    pub last_error: Option<String>,
}

/// A camera's status shared between its worker thread and readers.
#[derive(Clone, Debug)]
pub struct StatusCell(Arc<Mutex<CameraStatus>>);

impl StatusCell {
    pub fn new(status: CameraStatus) -> Self {
        Self(Arc::new(Mutex::new(status)))
    }

    pub fn snapshot(&self) -> CameraStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut CameraStatus)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}
