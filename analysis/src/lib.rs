//! The analysis engine: decoded frames in, one read per vehicle pass out; and the camera
//! pipeline of `custos serve` around it (ingest → analysis → store writer → live hub).
//!
//! Owns the threads, queues and wiring between the stages and the writer's batching. May not
//! hold the stages' own rules (localisation, OCR, tracking policy live in their crates), the
//! config file or the CLI (the `custos` binary), or the network API (`custos-grpc`).
//!
//! ```text
//! ingest ──Frame──▶ [frame queue] ──▶ kernels ──▶ [ocr frame queue] ──▶ OCR ──▶ [tracker queue] ──▶ tracker ──▶ PassSink
//!  (drops and counts          (batches frames      (crops of many frames    (one Tracker per
//!   when the queue is full)    of all cameras)      in the shared Batcher)   camera; expiry timer)
//! ```
//!
//! Each stage is a plain thread. Only the frame queue drops (at the source, in the ingest): the
//! stages behind it block on each other, so a slow OCR fills the frame queue and the ingest
//! skips frames instead of memory growing. The sink never blocks the tracker either: a full
//! sink loses the pass and counts it.
//!
//! Frames of one camera stay in order through every stage (one thread per stage, FIFO queues),
//! which the tracker needs.

pub mod camera_pipeline;
mod config;
pub mod metrics;
mod prometheus;
mod stages;
pub mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use custos_core::{CameraId, Frame};
use custos_kernels::{CropSpec, Localizer};
use custos_ocr::Recognizer;
use custos_track::{FormatPriors, SplitMerger, Tracker, VehiclePass};

pub use config::{AnalysisConfig, Backend};
pub use metrics::{Metrics, MetricsSnapshot, QueueDepths, render};

/// A plate crop as the OCR read it, owned and cheap to share (a pass keeps its best one): grey,
/// 8-bit, tightly packed, ready for JPEG encoding. The OCR itself reads borrowed
/// [`custos_ocr::GrayCrop`] views of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlateCrop {
    pub width: u32,
    pub height: u32,
    pub pixels: Arc<[u8]>,
}

/// A camera as the analysis sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysedCamera {
    pub id: CameraId,
    /// Region of interest: a polygon in frame pixels. Plate candidates whose centre lies
    /// outside are not read (they cost no OCR and make no passes).
    pub roi: Option<Vec<[f64; 2]>>,
}

impl From<&custos_pipeline::CameraSettings> for AnalysedCamera {
    fn from(s: &custos_pipeline::CameraSettings) -> Self {
        Self {
            id: s.id.clone(),
            roi: s.roi.clone(),
        }
    }
}

impl From<CameraId> for AnalysedCamera {
    fn from(id: CameraId) -> Self {
        Self { id, roi: None }
    }
}

/// One vehicle pass with its best crop.
pub type Pass = VehiclePass<PlateCrop>;

/// Where passes go (store writer, hotlist matcher, alerts, the demo's terminal). Called on the
/// tracker's thread: it must not block. Returns false if the pass was not taken (counted).
pub trait PassSink: Send + 'static {
    fn pass(&mut self, pass: Pass) -> bool;
}

/// A bounded channel is a sink: a full channel loses the pass rather than stalling analysis.
impl PassSink for Sender<Pass> {
    fn pass(&mut self, pass: Pass) -> bool {
        self.try_send(pass).is_ok()
    }
}

impl<F: FnMut(Pass) -> bool + Send + 'static> PassSink for F {
    fn pass(&mut self, pass: Pass) -> bool {
        self(pass)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    #[error("[analysis] {key} {why}")]
    Config { key: &'static str, why: String },
    #[error("camera {camera}: {why}")]
    Camera { camera: String, why: String },
    #[error("plate kernels: {0}")]
    Kernels(#[from] custos_kernels::KernelError),
    #[error("OCR: {0}")]
    Ocr(#[from] custos_ocr::OcrError),
    #[error("cannot start the {stage} thread: {source}")]
    Thread {
        stage: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// The plate kernels and the OCR engine an analysis runs on.
pub type Engines = (Box<dyn Localizer>, Box<dyn Recognizer>);

/// Opens the kernels backend the config asks for and the OCR model `ocr` names.
pub fn open_engines(
    config: &AnalysisConfig,
    ocr: &custos_ocr::OcrConfig,
) -> Result<Engines, AnalysisError> {
    let params = custos_kernels::DetectParams {
        threshold: config.detect_threshold,
        max_candidates: config.max_candidates,
        ..custos_kernels::DetectParams::default()
    };
    let threads = (config.kernel_threads > 0).then_some(config.kernel_threads);
    let localizer = custos_kernels::open(config.backend.into(), params, threads)?;
    let recognizer = custos_ocr::OnnxRecognizer::load(&ocr.model_path(), &ocr.runtime())?;
    Ok((localizer, Box::new(recognizer)))
}

/// Every analysed frame's detections and reads, for inspection (tests, tuning, a live view).
/// Carries plate text: never log it at info level.
#[derive(Clone, Debug)]
pub struct FrameReads {
    pub camera: CameraId,
    pub at: std::time::SystemTime,
    /// Each candidate with the text read in it (empty: nothing legible) and that read's
    /// confidence.
    pub reads: Vec<(custos_core::Candidate, String, f32)>,
}

/// A running analysis. Dropping it stops it as [`Analysis::stop`] does.
pub struct Analysis {
    /// Kept to hand out; the kernels stage ends on the stop flag, not on disconnection (the
    /// ingest holds senders too).
    frames: Sender<Frame>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    metrics: Arc<Metrics>,
    queues: Queues,
}

/// Receiving ends kept only to read queue depths.
struct Queues {
    frames: Receiver<Frame>,
    ocr_frames: Receiver<stages::Localized>,
    ocr_crops: Arc<std::sync::atomic::AtomicUsize>,
    tracker: Receiver<stages::ReadFrame>,
}

impl Analysis {
    /// Starts the stages for `cameras` (frames from other cameras are counted and ignored).
    /// Feed it through [`Analysis::frames`] (give that sender to `Ingest::start`).
    pub fn start(
        cameras: &[AnalysedCamera],
        config: &AnalysisConfig,
        localizer: Box<dyn Localizer>,
        recognizer: Box<dyn Recognizer>,
        sink: impl PassSink,
    ) -> Result<Self, AnalysisError> {
        Self::start_with_tap(cameras, config, localizer, recognizer, sink, None)
    }

    /// As [`Analysis::start`], also sending every analysed frame's reads to `tap` (a full tap
    /// loses them: it never slows the analysis).
    pub fn start_with_tap(
        cameras: &[AnalysedCamera],
        config: &AnalysisConfig,
        localizer: Box<dyn Localizer>,
        recognizer: Box<dyn Recognizer>,
        sink: impl PassSink,
        tap: Option<Sender<FrameReads>>,
    ) -> Result<Self, AnalysisError> {
        let rois: Vec<Option<Vec<[f64; 2]>>> = cameras.iter().map(|c| c.roi.clone()).collect();
        let cameras: Vec<CameraId> = cameras.iter().map(|c| c.id.clone()).collect();
        let cameras = &cameras[..];
        let ids: Vec<&str> = cameras.iter().map(CameraId::as_str).collect();
        config.validate(&ids)?;
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                return Err(AnalysisError::Camera {
                    camera: id.to_string(),
                    why: "is given twice".into(),
                });
            }
        }
        let mut trackers = Vec::with_capacity(cameras.len());
        for id in cameras {
            let camera_err = |why: String| AnalysisError::Camera {
                camera: id.to_string(),
                why,
            };
            let priors = FormatPriors::new(config.priors_for(id.as_str()))
                .map_err(|e| camera_err(e.to_string()))?;
            trackers.push(
                Tracker::new(id.clone(), config.tracker.clone(), priors)
                    .map_err(|e| camera_err(e.to_string()))?,
            );
        }
        let input = recognizer.input();
        // The OCR model takes raw 0–255 grey values: mean 0 and std 1/255 make the kernels'
        // `(v/255 − mean)/std` the identity.
        let spec = CropSpec {
            width: input.width as u32,
            height: input.height as u32,
            mean: 0.0,
            std: 1.0 / 255.0,
            margin: config.crop_margin,
        };
        let metrics = Arc::new(Metrics::new(
            cameras.to_vec(),
            localizer.info().to_string(),
            recognizer.provider().to_string(),
        ));
        tracing::info!(
            cameras = cameras.len(),
            backend = %metrics.backend,
            provider = %metrics.provider,
            crop = %format!("{}x{}", spec.width, spec.height),
            "analysis starting"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (frames_tx, frames_rx) = crossbeam_channel::bounded(config.frame_queue);
        let (ocr_tx, ocr_rx) = crossbeam_channel::bounded(config.ocr_frame_queue);
        let (track_tx, track_rx) = crossbeam_channel::bounded(config.ocr_frame_queue);
        let ocr_crops = Arc::new(std::sync::atomic::AtomicUsize::new(0));

        let kernels = stages::Kernels {
            cameras: cameras.to_vec(),
            rois,
            localizer,
            spec,
            batch: config.kernel_batch,
            max_candidates: config.max_candidates,
            input: frames_rx.clone(),
            output: ocr_tx,
            stop: stop.clone(),
            metrics: metrics.clone(),
        };
        let ocr = stages::Ocr {
            recognizer,
            policy: custos_ocr::BatchPolicy {
                max_batch: config.ocr_batch,
                deadline: config.ocr_deadline(),
                capacity: config.ocr_queue,
            },
            input: ocr_rx.clone(),
            output: track_tx,
            waiting: ocr_crops.clone(),
            metrics: metrics.clone(),
            cameras: cameras.to_vec(),
            tap,
        };
        let merge_gap = std::time::Duration::from_millis(config.merge_gap_ms);
        let mergers = trackers
            .iter()
            .map(|t| SplitMerger::new(merge_gap, t.config().max_gap()))
            .collect();
        let tracking = stages::Tracking {
            trackers,
            mergers,
            expire_every: config.expire_every(),
            min_pass_chars: config.min_pass_chars,
            gate: custos_track::Gate::new(config.gate.clone()),
            input: track_rx.clone(),
            sink: Box::new(sink),
            metrics: metrics.clone(),
        };
        let mut analysis = Self {
            frames: frames_tx,
            stop,
            threads: Vec::new(),
            metrics,
            queues: Queues {
                frames: frames_rx,
                ocr_frames: ocr_rx,
                ocr_crops,
                tracker: track_rx,
            },
        };
        // On failure `analysis` is dropped, which stops the threads already started.
        analysis.spawn("analysis-track", move || tracking.run())?;
        analysis.spawn("analysis-ocr", move || ocr.run())?;
        analysis.spawn("analysis-kernels", move || kernels.run())?;
        Ok(analysis)
    }

    fn spawn(
        &mut self,
        stage: &'static str,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), AnalysisError> {
        let handle = std::thread::Builder::new()
            .name(stage.into())
            .spawn(f)
            .map_err(|source| AnalysisError::Thread { stage, source })?;
        self.threads.push(handle);
        Ok(())
    }

    /// The frame queue's sending end, for `Ingest::start` (which never blocks on it: a full
    /// queue drops the frame and counts it against the camera).
    pub fn frames(&self) -> Sender<Frame> {
        self.frames.clone()
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.snapshot(QueueDepths {
            frames: self.queues.frames.len(),
            ocr_frames: self.queues.ocr_frames.len(),
            ocr_crops: self.queues.ocr_crops.load(Ordering::Relaxed),
            tracker: self.queues.tracker.len(),
        })
    }

    /// Graceful shutdown: analyses the frames already queued, runs the OCR on every crop still
    /// waiting, ends every open track (its pass goes to the sink) and joins the threads. Stop
    /// the ingest first, or frames it sends meanwhile are lost.
    pub fn stop(mut self) -> MetricsSnapshot {
        self.shutdown();
        self.metrics()
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Kernels first (it drains its queue), then OCR, then the tracker: each ends when the
        // stage before it has dropped its sending end.
        for handle in self.threads.drain(..).rev() {
            if handle.join().is_err() {
                tracing::error!("an analysis thread panicked");
            }
        }
    }
}

impl Drop for Analysis {
    fn drop(&mut self) {
        self.shutdown();
    }
}
