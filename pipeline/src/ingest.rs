//! The ingest: one worker thread and GStreamer pipeline per camera, all feeding one bounded
//! frame queue.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use custos_core::Frame;

use crate::camera::Worker;
use crate::clock::{MonotonicTime, RealMonotonic};
use crate::config::CameraSettings;
use crate::error::IngestError;
use crate::status::{CameraState, CameraStatus, StatusCell};

/// Initialises GStreamer once per process.
pub fn init() -> Result<(), IngestError> {
    gst::init().map_err(|e| IngestError::Init(e.to_string()))
}

pub struct Ingest {
    cameras: Vec<(StatusCell, Option<JoinHandle<()>>)>,
    shutdown: Arc<AtomicBool>,
}

impl Ingest {
    /// Starts every enabled camera. Frames go to `frames`; when it is full a frame is dropped and
    /// counted, never waited for, so analysis can never stall decoding.
    pub fn start(cameras: Vec<CameraSettings>, frames: Sender<Frame>) -> Result<Self, IngestError> {
        Self::start_with_clock(cameras, frames, Arc::new(RealMonotonic))
    }

    /// As [`Ingest::start`], with the clock that drives stall detection and backoff.
    pub fn start_with_clock(
        cameras: Vec<CameraSettings>,
        frames: Sender<Frame>,
        clock: Arc<dyn MonotonicTime>,
    ) -> Result<Self, IngestError> {
        init()?;
        let shutdown = Arc::new(AtomicBool::new(false));
        let mut ingest = Self {
            cameras: Vec::with_capacity(cameras.len()),
            shutdown,
        };
        for settings in cameras {
            let status = StatusCell::new(CameraStatus {
                id: settings.id.clone(),
                name: settings.name.clone(),
                url: settings.display_url(),
                transport: settings.transport,
                state: if settings.enabled {
                    CameraState::Connecting
                } else {
                    CameraState::Disabled
                },
                decoder: None,
                width: 0,
                height: 0,
                frames_decoded: 0,
                frames_analysed: 0,
                frames_skipped: 0,
                frames_dropped: 0,
                reconnects: 0,
                fps: 0.0,
                last_error: None,
            });
            if !settings.enabled {
                ingest.cameras.push((status, None));
                continue;
            }
            let camera = settings.id.to_string();
            let worker = Worker {
                settings,
                status: status.clone(),
                frames: frames.clone(),
                clock: clock.clone(),
                shutdown: ingest.shutdown.clone(),
                sequence: 0,
            };
            // On failure `ingest` is dropped, which stops the cameras already started.
            let handle = std::thread::Builder::new()
                .name(format!("cam-{camera}"))
                .spawn(move || worker.run())
                .map_err(|source| IngestError::Thread { camera, source })?;
            ingest.cameras.push((status, Some(handle)));
        }
        Ok(ingest)
    }

    /// A snapshot of every camera's status, in configuration order.
    pub fn status(&self) -> Vec<CameraStatus> {
        self.cameras.iter().map(|(s, _)| s.snapshot()).collect()
    }

    /// Stops every camera and waits for their pipelines to close.
    pub fn stop(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
        for (_, handle) in &mut self.cameras {
            if let Some(handle) = handle.take() {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop_all();
    }
}
