//! The built-in test cameras: an RTSP server (gst-rtsp-server) with one mount per camera, each
//! streaming a synthetic road scene whose vehicles carry plates of known text, plus a
//! ground-truth sidecar (JSON lines) of every vehicle pass. The demo, the end-to-end tests and
//! the benchmarks use it; it also serves pre-encoded clips without re-encoding them.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gst::glib;
use gst::prelude::*;
use gst_rtsp_server::prelude::*;
use serde::Serialize;
use tracing::{debug, warn};

use custos_synth::plate::{FontError, PlateFonts};
use custos_synth::scene::{PlatePass, Scene, SceneConfig};

#[derive(Debug, thiserror::Error)]
pub enum TestcamError {
    #[error(transparent)]
    Fonts(#[from] FontError),
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("cannot listen for RTSP on {address}:{port}: {reason}")]
    Bind {
        address: String,
        port: u16,
        reason: String,
    },
    #[error("cannot write ground truth to {path}: {source}")]
    GroundTruth {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("clip {path}: {reason}")]
    Clip { path: PathBuf, reason: String },
    #[error("{0}")]
    Invalid(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    fn encoder(self, fps: u32) -> String {
        let gop = fps * 2;
        match self {
            // One thread per stream: dozens of cameras share two cores.
            VideoCodec::H264 => format!(
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=3000 threads=1 \
                 ! video/x-h264,profile=constrained-baseline"
            ),
            VideoCodec::H265 => format!(
                "x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate=3000 \
                 option-string=pools=1:frame-threads=1"
            ),
        }
    }

    fn payloader(self) -> &'static str {
        match self {
            VideoCodec::H264 => "rtph264pay",
            VideoCodec::H265 => "rtph265pay",
        }
    }

    fn parser(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264parse",
            VideoCodec::H265 => "h265parse",
        }
    }
}

/// What a mount streams.
#[derive(Clone, Debug)]
pub enum Source {
    /// The synthetic scene, rendered and encoded live.
    Scene {
        width: u32,
        height: u32,
        fps: u32,
        codec: VideoCodec,
        seed: u64,
    },
    /// A Matroska clip made by [`encode_clip`], served without re-encoding (once: make it long
    /// enough for the run).
    Clip { path: PathBuf, codec: VideoCodec },
}

#[derive(Clone, Debug)]
pub struct TestCamConfig {
    pub cameras: usize,
    pub address: String,
    /// 0 picks a free port.
    pub port: u16,
    pub source: Source,
    /// Where to append the ground-truth passes (scene sources only).
    pub ground_truth: Option<PathBuf>,
    /// Require RTSP basic authentication with this user and password, as real cameras do.
    pub credentials: Option<(String, String)>,
}

/// One line of the ground-truth sidecar.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct GroundTruth {
    pub camera: String,
    /// Wall-clock time (Unix ms) at which the camera's frame 0 was rendered.
    pub epoch_ms: u64,
    pub fps: u32,
    #[serde(flatten)]
    pub pass: PlatePass,
}

/// A running test-camera server. Dropping it stops the streams.
pub struct TestCamServer {
    port: u16,
    address: String,
    mounts: Vec<String>,
    main_loop: glib::MainLoop,
    loop_thread: Option<JoinHandle<()>>,
    renderers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

/// The role an authenticated client gets when the test cameras require credentials.
const VIEWER_ROLE: &str = "viewer";

/// The scene seed of camera `index` of a server started with `seed` (camera 0 renders with the
/// seed itself): with it, [`Scene`] renders what that camera shows.
pub fn camera_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_add(index as u64 * 0x9E37_79B9)
}

/// The mount path of camera `index`.
pub fn mount_path(index: usize) -> String {
    format!("/cam{index}")
}

impl TestCamServer {
    pub fn start(config: TestCamConfig) -> Result<Self, TestcamError> {
        gst::init().map_err(|e| TestcamError::Gst(e.to_string()))?;
        if config.cameras == 0 || config.cameras > 256 {
            return Err(TestcamError::Invalid(format!(
                "--cameras is {}; it must be between 1 and 256",
                config.cameras
            )));
        }
        let context = glib::MainContext::new();
        let server = gst_rtsp_server::RTSPServer::new();
        server.set_address(&config.address);
        server.set_service(&config.port.to_string());
        if let Some((user, password)) = &config.credentials {
            let auth = gst_rtsp_server::RTSPAuth::new();
            let token = gst_rtsp_server::RTSPToken::builder()
                .field(gst_rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, VIEWER_ROLE)
                .build();
            auth.add_basic(
                &gst_rtsp_server::RTSPAuth::make_basic(user, password),
                &token,
            );
            server.set_auth(Some(&auth));
        }
        let mounts_table = server
            .mount_points()
            .ok_or_else(|| TestcamError::Gst("RTSP server has no mount points".into()))?;

        let stop = Arc::new(AtomicBool::new(false));
        let sidecar = match &config.ground_truth {
            Some(path) => Some(Arc::new(Mutex::new(open_sidecar(path)?))),
            None => None,
        };
        let fonts = match config.source {
            Source::Scene { .. } => Some(Arc::new(PlateFonts::load()?)),
            Source::Clip { .. } => None,
        };

        let mut mounts = Vec::with_capacity(config.cameras);
        let mut renderers = Vec::new();
        for index in 0..config.cameras {
            let factory = gst_rtsp_server::RTSPMediaFactory::new();
            // One encoder per camera, shared by all its clients, as a real camera has.
            factory.set_shared(true);
            match &config.source {
                Source::Scene {
                    width,
                    height,
                    fps,
                    codec,
                    seed,
                } => {
                    let (width, height, fps) = (
                        (*width).max(2) & !1,
                        (*height).max(2) & !1,
                        (*fps).clamp(1, 60),
                    );
                    factory.set_launch(&format!(
                        "( appsrc name=src is-live=true format=time do-timestamp=true \
                           caps=video/x-raw,format=I420,width={width},height={height},framerate={fps}/1,colorimetry=bt601 \
                         ! queue max-size-buffers=2 leaky=downstream ! {} ! {} name=pay0 pt=96 config-interval=-1 )",
                        codec.encoder(fps),
                        codec.payloader(),
                    ));
                    let slot: Arc<Mutex<Option<gst_app::AppSrc>>> = Arc::default();
                    let configure_slot = slot.clone();
                    factory.connect_media_configure(move |_, media| {
                        let appsrc = media
                            .element()
                            .downcast::<gst::Bin>()
                            .ok()
                            .and_then(|bin| bin.by_name_recurse_up("src"))
                            .and_then(|el| el.downcast::<gst_app::AppSrc>().ok());
                        *configure_slot.lock().unwrap_or_else(|e| e.into_inner()) = appsrc;
                    });
                    let scene = Scene::new(
                        SceneConfig {
                            width,
                            height,
                            fps,
                            seed: camera_seed(*seed, index),
                        },
                        fonts
                            .clone()
                            .ok_or_else(|| TestcamError::Invalid("fonts not loaded".into()))?,
                    );
                    let renderer = Renderer {
                        camera: format!("cam{index}"),
                        scene,
                        fps,
                        slot,
                        sidecar: sidecar.clone(),
                        stop: stop.clone(),
                    };
                    renderers.push(
                        std::thread::Builder::new()
                            .name(format!("testcam-{index}"))
                            .spawn(move || renderer.run())
                            .map_err(|e| {
                                TestcamError::Gst(format!("cannot start renderer: {e}"))
                            })?,
                    );
                }
                Source::Clip { path, codec } => {
                    check_clip(path)?;
                    factory.set_launch(&format!(
                        "( filesrc location=\"{}\" ! matroskademux ! {} ! {} name=pay0 pt=96 config-interval=-1 )",
                        path.display(),
                        codec.parser(),
                        codec.payloader()
                    ));
                }
            }
            if config.credentials.is_some() {
                factory.add_role_from_structure(
                    &gst::Structure::builder(VIEWER_ROLE)
                        .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                        .field(gst_rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                        .build(),
                );
            }
            let mount = mount_path(index);
            mounts_table.add_factory(&mount, factory);
            mounts.push(mount);
        }

        let source = server
            .attach(Some(&context))
            .map_err(|e| TestcamError::Bind {
                address: config.address.clone(),
                port: config.port,
                reason: e.to_string(),
            })?;
        let port = u16::try_from(server.bound_port()).map_err(|_| TestcamError::Bind {
            address: config.address.clone(),
            port: config.port,
            reason: "server did not bind".into(),
        })?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let loop_clone = main_loop.clone();
        let loop_thread = std::thread::Builder::new()
            .name("testcam-rtsp".into())
            .spawn(move || {
                // Keep the server alive as long as the loop runs.
                let _server = server;
                let _source = source;
                loop_clone.run();
            })
            .map_err(|e| TestcamError::Gst(format!("cannot start RTSP thread: {e}")))?;
        Ok(Self {
            port,
            address: config.address,
            mounts,
            main_loop,
            loop_thread: Some(loop_thread),
            renderers,
            stop,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// One `rtsp://` URL per camera.
    pub fn urls(&self) -> Vec<String> {
        let host = if self.address.contains(':') {
            format!("[{}]", self.address)
        } else {
            self.address.clone()
        };
        self.mounts
            .iter()
            .map(|m| format!("rtsp://{host}:{}{m}", self.port))
            .collect()
    }
}

impl Drop for TestCamServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.main_loop.quit();
        for handle in self.renderers.drain(..) {
            let _ = handle.join();
        }
        if let Some(handle) = self.loop_thread.take() {
            let _ = handle.join();
        }
    }
}

fn open_sidecar(path: &Path) -> Result<BufWriter<File>, TestcamError> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .map(BufWriter::new)
        .map_err(|source| TestcamError::GroundTruth {
            path: path.to_owned(),
            source,
        })
}

fn check_clip(path: &Path) -> Result<(), TestcamError> {
    let meta = std::fs::metadata(path).map_err(|e| TestcamError::Clip {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if !meta.is_file() || meta.len() == 0 {
        return Err(TestcamError::Clip {
            path: path.to_owned(),
            reason: "is not a non-empty file".into(),
        });
    }
    if path.to_string_lossy().contains('"') {
        return Err(TestcamError::Clip {
            path: path.to_owned(),
            reason: "path contains a quote".into(),
        });
    }
    Ok(())
}

/// Renders one camera's scene in real time, whether or not anyone watches (so the ground truth's
/// frame numbers follow the wall clock), and pushes frames into the live encoder when a client is
/// connected.
struct Renderer {
    camera: String,
    scene: Scene,
    fps: u32,
    slot: Arc<Mutex<Option<gst_app::AppSrc>>>,
    sidecar: Option<Arc<Mutex<BufWriter<File>>>>,
    stop: Arc<AtomicBool>,
}

impl Renderer {
    fn run(mut self) {
        let period = Duration::from_secs_f64(1.0 / self.fps as f64);
        let start = Instant::now();
        let epoch_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let frame_len = self.scene.frame_len();
        while !self.stop.load(Ordering::Relaxed) {
            let index = self.scene.next_frame();
            let due = start + period * index as u32;
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let appsrc = self.slot.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let mut buffer = match gst::Buffer::with_size(frame_len) {
                Ok(b) => b,
                Err(e) => {
                    warn!(camera = %self.camera, error = %e, "cannot allocate frame");
                    return;
                }
            };
            let passes = {
                let Some(buf) = buffer.get_mut() else { return };
                let Ok(mut map) = buf.map_writable() else {
                    return;
                };
                self.scene.render_next(map.as_mut_slice())
            };
            self.record(epoch_ms, passes);
            if let Some(appsrc) = appsrc
                && appsrc.push_buffer(buffer).is_err()
            {
                // The client left and the media was torn down: stop pushing until a new one comes.
                debug!(camera = %self.camera, "encoder gone");
                let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
                if slot.as_ref() == Some(&appsrc) {
                    *slot = None;
                }
            }
        }
    }

    fn record(&self, epoch_ms: u64, passes: Vec<PlatePass>) {
        let Some(sidecar) = &self.sidecar else { return };
        if passes.is_empty() {
            return;
        }
        let mut out = sidecar.lock().unwrap_or_else(|e| e.into_inner());
        for pass in passes {
            let line = GroundTruth {
                camera: self.camera.clone(),
                epoch_ms,
                fps: self.fps,
                pass,
            };
            let written = serde_json::to_writer(&mut *out, &line)
                .map_err(std::io::Error::other)
                .and_then(|()| out.write_all(b"\n"))
                .and_then(|()| out.flush());
            if let Err(e) = written {
                warn!(camera = %self.camera, error = %e, "cannot write ground truth");
            }
        }
    }
}

/// Encodes `seconds` of the synthetic scene into a Matroska clip at `path`, for serving many
/// streams cheaply (benchmarks). Returns the number of frames written.
pub fn encode_clip(
    path: &Path,
    width: u32,
    height: u32,
    fps: u32,
    seconds: u32,
    codec: VideoCodec,
    seed: u64,
) -> Result<u64, TestcamError> {
    gst::init().map_err(|e| TestcamError::Gst(e.to_string()))?;
    let fonts = Arc::new(PlateFonts::load()?);
    let (width, height, fps) = (width.max(2) & !1, height.max(2) & !1, fps.clamp(1, 60));
    let mut scene = Scene::new(
        SceneConfig {
            width,
            height,
            fps,
            seed,
        },
        fonts,
    );
    let gop = fps * 2;
    let encoder = match codec {
        VideoCodec::H264 => format!("x264enc speed-preset=veryfast key-int-max={gop} bitrate=3000"),
        VideoCodec::H265 => format!("x265enc speed-preset=veryfast key-int-max={gop} bitrate=3000"),
    };
    let launch = format!(
        "appsrc name=src format=time caps=video/x-raw,format=I420,width={width},height={height},framerate={fps}/1,colorimetry=bt601 \
         ! {encoder} ! {} ! matroskamux ! filesink name=sink",
        codec.parser()
    );
    let gst_err = |e: glib::Error| TestcamError::Gst(e.to_string());
    let pipeline = gst::parse::launch(&launch).map_err(gst_err)?;
    let bin = pipeline
        .clone()
        .downcast::<gst::Bin>()
        .map_err(|_| TestcamError::Gst("not a bin".into()))?;
    let sink = bin
        .by_name("sink")
        .ok_or_else(|| TestcamError::Gst("no filesink".into()))?;
    sink.set_property("location", path.to_string_lossy().as_ref());
    let appsrc = bin
        .by_name("src")
        .and_then(|el| el.downcast::<gst_app::AppSrc>().ok())
        .ok_or_else(|| TestcamError::Gst("no appsrc".into()))?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| TestcamError::Gst(e.to_string()))?;
    let frames = u64::from(fps) * u64::from(seconds);
    let frame_dur = gst::ClockTime::SECOND / u64::from(fps);
    for i in 0..frames {
        let mut buffer = gst::Buffer::with_size(scene.frame_len())
            .map_err(|e| TestcamError::Gst(e.to_string()))?;
        {
            let buf = buffer
                .get_mut()
                .ok_or_else(|| TestcamError::Gst("buffer not writable".into()))?;
            buf.set_pts(frame_dur * i);
            buf.set_duration(frame_dur);
            let mut map = buf
                .map_writable()
                .map_err(|e| TestcamError::Gst(e.to_string()))?;
            scene.render_next(map.as_mut_slice());
        }
        appsrc
            .push_buffer(buffer)
            .map_err(|e| TestcamError::Gst(format!("encoder refused a frame: {e:?}")))?;
    }
    appsrc
        .end_of_stream()
        .map_err(|e| TestcamError::Gst(format!("{e:?}")))?;
    let bus = pipeline
        .bus()
        .ok_or_else(|| TestcamError::Gst("no bus".into()))?;
    let result = match bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    ) {
        Some(msg) => match msg.view() {
            gst::MessageView::Error(e) => Err(TestcamError::Clip {
                path: path.to_owned(),
                reason: e.error().to_string(),
            }),
            _ => Ok(frames),
        },
        None => Ok(frames),
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}
