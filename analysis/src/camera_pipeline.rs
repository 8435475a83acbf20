//! The cameras' pipeline inside `custos serve`: ingest → analysis → store writer, for the
//! cameras of the config file plus those the agency registered over the gRPC Cameras API. When
//! the registered cameras change, the pipeline is stopped (everything in flight is committed)
//! and started again on the new set: a second's pause for all cameras on an administrative
//! change, in exchange for one simple start/stop path.

use std::sync::{Arc, Mutex, MutexGuard};

use custos_core::{CameraId, CameraIdError};
use custos_live::Hub;
use custos_pipeline::config::validate_cameras;
use custos_pipeline::{CameraConfig, CameraSettings, Ingest};
use custos_store::records::RecordKind;
use custos_store::{AgencyStore, Camera};

use crate::writer::{Writer, WriterConfig, WriterStats};
use crate::{AnalysedCamera, Analysis, AnalysisConfig, AnalysisError, Pass, open_engines};

/// What the pipeline needs from the appliance's configuration.
#[derive(Debug)]
pub struct PipelineConfig {
    /// `[ingest]` defaults, applied to cameras registered over the API.
    pub ingest: custos_pipeline::IngestDefaults,
    pub ocr: custos_ocr::OcrConfig,
    pub analysis: AnalysisConfig,
}

/// Why the pipeline could not start.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("cannot start the analysis: {0}")]
    Analysis(#[from] AnalysisError),
    #[error("cannot start the store writer: {0}")]
    Writer(std::io::Error),
    #[error("cannot start the ingest: {0}")]
    Ingest(#[from] custos_pipeline::IngestError),
}

/// Why a camera registered over the API cannot run.
#[derive(Debug, thiserror::Error)]
enum RegisteredCameraError {
    #[error(transparent)]
    Id(#[from] CameraIdError),
    #[error(transparent)]
    Config(#[from] custos_pipeline::ConfigError),
}

/// The running stages of one pipeline.
pub struct Pipeline {
    pub ingest: Ingest,
    pub analysis: Analysis,
    writer: Writer,
}

impl Pipeline {
    fn start(
        cameras: Vec<CameraSettings>,
        cfg: &PipelineConfig,
        writer_cfg: WriterConfig,
        store: Arc<AgencyStore>,
        hub: Hub,
        stats: Arc<WriterStats>,
    ) -> Result<Self, PipelineError> {
        let analysed: Vec<AnalysedCamera> = cameras.iter().map(AnalysedCamera::from).collect();
        let (localizer, recognizer) = open_engines(&cfg.analysis, &cfg.ocr)?;
        let (passes_tx, passes_rx) = crossbeam_channel::bounded::<Pass>(cfg.analysis.pass_queue);
        let writer = Writer::start(passes_rx, store, hub, writer_cfg, stats)
            .map_err(PipelineError::Writer)?;
        // The analysis owns the only sender: when it stops, the writer drains and ends.
        let analysis = Analysis::start(&analysed, &cfg.analysis, localizer, recognizer, passes_tx)?;
        let ingest = Ingest::start(cameras, analysis.frames())?;
        Ok(Self {
            ingest,
            analysis,
            writer,
        })
    }

    /// Ingest first (no new frames), then the analysis (analyses what is queued and flushes
    /// every open track as a pass), then the writer (commits what it received).
    fn stop(self) {
        self.ingest.stop();
        let m = self.analysis.stop();
        let passes: u64 = m.cameras.iter().map(|c| c.passes).sum();
        self.writer.join();
        tracing::info!(passes, "pipeline stopped");
    }
}

#[derive(Default)]
struct Running {
    pipeline: Option<Pipeline>,
    /// What the pipeline runs (or was last asked to run, if it failed to start).
    cameras: Vec<CameraSettings>,
    stopping: bool,
}

/// One agency's cameras and the pipeline that reads them.
pub struct CameraPipeline {
    cfg: Arc<PipelineConfig>,
    /// From the config file; these win over registered cameras with the same id.
    configured: Vec<CameraSettings>,
    store: Arc<AgencyStore>,
    writer_cfg: WriterConfig,
    hub: Hub,
    stats: Arc<WriterStats>,
    running: Mutex<Running>,
}

impl CameraPipeline {
    /// Starts the pipeline on the configured and registered cameras (none: nothing runs until
    /// a camera is registered).
    pub fn start(
        cfg: Arc<PipelineConfig>,
        configured: Vec<CameraSettings>,
        store: Arc<AgencyStore>,
        writer_cfg: WriterConfig,
        hub: Hub,
        stats: Arc<WriterStats>,
    ) -> Result<Self, PipelineError> {
        let host = Self {
            cfg,
            configured,
            store,
            writer_cfg,
            hub,
            stats,
            running: Mutex::default(),
        };
        let cameras = host.wanted();
        if !cameras.is_empty() {
            let p = host.start_pipeline(cameras.clone())?;
            let mut running = host.lock();
            running.pipeline = Some(p);
            running.cameras = cameras;
        }
        Ok(host)
    }

    pub fn agency(&self) -> &str {
        self.store.agency()
    }

    /// The cameras of the config file, as the Cameras API shows them.
    pub fn configured(&self) -> Vec<Camera> {
        self.configured
            .iter()
            .map(|c| Camera {
                id: c.id.to_string(),
                name: c.name.clone(),
                url: c.url.to_string(),
                enabled: c.enabled,
            })
            .collect()
    }

    pub fn cameras(&self) -> usize {
        self.lock().cameras.len()
    }

    /// Runs `f` on the pipeline, if one runs.
    pub fn with<R>(&self, f: impl FnOnce(&Pipeline) -> R) -> Option<R> {
        self.lock().pipeline.as_ref().map(f)
    }

    /// Restarts the pipeline if the registered cameras changed. Blocking (stops and starts
    /// threads): call it off the async runtime.
    pub fn sync(&self) {
        let wanted = self.wanted();
        let mut running = self.lock();
        if running.stopping || running.cameras == wanted {
            return;
        }
        let ids = |c: &[CameraSettings]| c.iter().map(|c| c.id.to_string()).collect::<Vec<_>>();
        tracing::info!(
            before = ?ids(&running.cameras),
            after = ?ids(&wanted),
            "cameras changed; restarting the pipeline"
        );
        if let Some(p) = running.pipeline.take() {
            p.stop();
        }
        running.cameras = wanted.clone();
        if wanted.is_empty() {
            return;
        }
        match self.start_pipeline(wanted) {
            Ok(p) => running.pipeline = Some(p),
            // Retried when the cameras change again, not every tick.
            Err(e) => tracing::error!("cannot restart the pipeline: {e}"),
        }
    }

    /// Stops the pipeline for good: later `sync` calls do nothing.
    pub fn stop(&self) {
        let mut running = self.lock();
        running.stopping = true;
        if let Some(p) = running.pipeline.take() {
            p.stop();
        }
    }

    fn start_pipeline(&self, cameras: Vec<CameraSettings>) -> Result<Pipeline, PipelineError> {
        Pipeline::start(
            cameras,
            &self.cfg,
            self.writer_cfg.clone(),
            self.store.clone(),
            self.hub.clone(),
            self.stats.clone(),
        )
    }

    fn lock(&self) -> MutexGuard<'_, Running> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The configured cameras, then the enabled registered ones whose ids the config does not
    /// use. A registered camera that does not validate is skipped with a warning, never fatal.
    fn wanted(&self) -> Vec<CameraSettings> {
        let mut cameras = self.configured.clone();
        let registered = match self.store.list_records::<Camera>(RecordKind::Camera) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!("cannot read the registered cameras: {e}");
                return self.running_or(cameras);
            }
        };
        for (_, cam) in registered {
            if !cam.enabled || cameras.iter().any(|c| c.id.as_str() == cam.id) {
                continue;
            }
            match registered_camera(&self.cfg, &cam) {
                Ok(c) => cameras.push(c),
                Err(e) => tracing::warn!(camera = %cam.id, "registered camera skipped: {e}"),
            }
        }
        cameras
    }

    /// When the store cannot be read, keep what runs rather than stopping cameras.
    fn running_or(&self, configured: Vec<CameraSettings>) -> Vec<CameraSettings> {
        let running = self.lock();
        if running.cameras.is_empty() {
            configured
        } else {
            running.cameras.clone()
        }
    }
}

/// A camera registered over gRPC, with the `[ingest]` defaults applied.
fn registered_camera(
    cfg: &PipelineConfig,
    cam: &Camera,
) -> Result<CameraSettings, RegisteredCameraError> {
    let config = CameraConfig {
        id: CameraId::new(cam.id.clone())?,
        name: Some(cam.name.clone()).filter(|n| !n.is_empty()),
        url: cam.url.clone(),
        username: None,
        password: None,
        enabled: true,
        analysis_fps: None,
        transport: None,
        latency_ms: None,
        stall_timeout_ms: None,
        roi: None,
    };
    let settings = validate_cameras(&cfg.ingest, &[config])?;
    // One camera in, one validated camera out.
    Ok(settings
        .into_iter()
        .next()
        .expect("validate_cameras returns one camera per input"))
}
