//! One camera's worker: builds its GStreamer pipeline, pulls decoded frames off the appsink on
//! its own thread (never in GStreamer's streaming thread, where slow work makes latency grow
//! without bound), watches for faults and stalls, and reconnects with backoff.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{Sender, TrySendError};
use custos_core::{Frame, FrameFormat, Plane};
use gst::glib;
use gst::prelude::*;
use tracing::{debug, info, warn};

use crate::clock::{Backoff, MonotonicTime, RateLimiter, StallWatchdog};
use crate::config::{CameraSettings, Transport, redact_url};
use crate::decoder::{self, Codec};
use crate::status::{CameraState, StatusCell};

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: Duration = Duration::from_secs(2_208_988_800);
/// How long one pull waits before the worker looks at the bus, the watchdog and shutdown.
const PULL_TIMEOUT: gst::ClockTime = gst::ClockTime::from_mseconds(100);

const EOS_REASON: &str = "stream ended (EOS): the server closed it";
/// Decoded frames the appsink holds before dropping the oldest.
const APPSINK_MAX_BUFFERS: u32 = 2;

/// Why a connection ended.
enum Ended {
    Shutdown,
    /// The analysis side hung up: nobody wants frames any more.
    ConsumerGone,
    Fault(String),
}

pub(crate) struct Worker {
    pub settings: CameraSettings,
    pub status: StatusCell,
    pub frames: Sender<Frame>,
    pub clock: Arc<dyn MonotonicTime>,
    pub shutdown: Arc<AtomicBool>,
    /// Frame sequence numbers continue across reconnects.
    pub sequence: u64,
}

/// State one connection shares with GStreamer's pad-added callback.
struct Connection {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    decoded: Arc<AtomicU64>,
    decoder: Arc<std::sync::Mutex<Option<String>>>,
}

impl Worker {
    pub fn run(mut self) {
        let seed = self
            .settings
            .id
            .as_str()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31) ^ b as u64);
        let mut backoff = Backoff::new(
            self.settings.backoff_initial,
            self.settings.backoff_max,
            seed,
        );
        for attempt in 0u64.. {
            if self.shutdown.load(Ordering::Relaxed) {
                break;
            }
            if attempt > 0 {
                self.status.update(|s| s.reconnects += 1);
            }
            let (ended, streamed) = match self.connect() {
                Ok(conn) => {
                    let result = self.stream(&conn);
                    let _ = conn.pipeline.set_state(gst::State::Null);
                    result
                }
                Err(reason) => (Ended::Fault(reason), false),
            };
            if streamed {
                backoff.reset();
            }
            match ended {
                Ended::Shutdown | Ended::ConsumerGone => break,
                Ended::Fault(reason) => {
                    let reason = redact_url(&explain_fault(reason, &self.settings));
                    let delay = backoff.next_delay();
                    warn!(camera = %self.settings.id, error = %reason, retry_in_ms = delay.as_millis() as u64, "camera fault");
                    self.status.update(|s| {
                        s.state = CameraState::Backoff;
                        s.fps = 0.0;
                        s.last_error = Some(reason);
                    });
                    self.sleep(delay);
                }
            }
        }
        self.status.update(|s| {
            s.state = CameraState::Stopped;
            s.fps = 0.0;
        });
    }

    /// Waits on the injected clock, waking often enough to notice shutdown.
    fn sleep(&self, delay: Duration) {
        let until = self.clock.now() + delay;
        while !self.shutdown.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(self.clock.now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn connect(&self) -> Result<Connection, String> {
        let s = &self.settings;
        self.status.update(|st| {
            st.state = CameraState::Connecting;
            st.fps = 0.0;
        });
        let pipeline = gst::Pipeline::with_name(&format!("camera-{}", s.id));
        // A realtime clock makes base time + running time the wall-clock receive time.
        let clock: gst::SystemClock = glib::Object::builder()
            .property("clock-type", gst::ClockType::Realtime)
            .build();
        pipeline.use_clock(Some(&clock));

        let protocols = match s.transport {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "udp+tcp",
        };
        let src = gst::ElementFactory::make("rtspsrc")
            .name("rtspsrc")
            .property("location", s.url.as_str())
            .property("latency", s.latency_ms)
            .property("add-reference-timestamp-meta", true)
            // Bound the RTSP request timeout by the stall timeout so a dead server is noticed.
            .property("tcp-timeout", s.stall_timeout.as_micros() as u64)
            .build()
            .map_err(|e| format!("cannot create rtspsrc: {e}"))?;
        src.set_property_from_str("protocols", protocols);
        if let Some(user) = &s.username {
            src.set_property("user-id", user);
        }
        if let Some(pw) = &s.password {
            let pw = pw.resolve().map_err(|e| e.to_string())?;
            src.set_property("user-pw", pw);
        }

        let raw_caps = gst::Caps::builder("video/x-raw")
            .field("format", gst::List::new(["I420", "NV12"]))
            .build();
        let appsink = gst_app::AppSink::builder()
            .name("frames")
            .caps(&raw_caps)
            .drop(true)
            .max_buffers(APPSINK_MAX_BUFFERS)
            .sync(false)
            .build();
        pipeline
            .add_many([&src, appsink.upcast_ref()])
            .map_err(|e| format!("cannot assemble pipeline: {e}"))?;

        let decoded = Arc::new(AtomicU64::new(0));
        let decoder_name = Arc::new(std::sync::Mutex::new(None));
        let weak_pipeline = pipeline.downgrade();
        let sink_pad = appsink
            .static_pad("sink")
            .ok_or("appsink has no sink pad")?;
        let (counter, chosen) = (decoded.clone(), decoder_name.clone());
        src.connect_pad_added(move |src, pad| {
            let Some(pipeline) = weak_pipeline.upgrade() else {
                return;
            };
            if let Err(e) = link_stream(&pipeline, pad, &sink_pad, &counter, &chosen) {
                gst::element_error!(src, gst::StreamError::CodecNotFound, ("{}", e));
            }
        });

        pipeline.set_state(gst::State::Playing).map_err(|_| {
            bus_error(&pipeline).unwrap_or_else(|| "pipeline refused to start".to_owned())
        })?;
        debug!(camera = %s.id, url = %s.display_url(), "connecting");
        Ok(Connection {
            pipeline,
            appsink,
            decoded,
            decoder: decoder_name,
        })
    }

    /// Pulls frames until a fault, shutdown or the consumer going away. Returns whether any
    /// frame arrived (a working connection resets the backoff).
    fn stream(&mut self, conn: &Connection) -> (Ended, bool) {
        let s = self.settings.clone();
        let bus = conn.pipeline.bus();
        let mut watchdog = StallWatchdog::new(s.stall_timeout, self.clock.now());
        let mut limiter = RateLimiter::new(s.analysis_fps);
        let mut got_frame = false;
        let mut pulled_total = 0u64;
        let mut queue_drops = 0u64;
        // Counters continue across reconnects; this connection's counts add to these.
        let base = self.status.snapshot();
        let mut fps_window = (Instant::now(), 0u64);
        loop {
            if self.shutdown.load(Ordering::Relaxed) {
                return (Ended::Shutdown, got_frame);
            }
            if let Some(reason) = bus.as_ref().and_then(|bus| bus_fault(bus, conn)) {
                return (Ended::Fault(reason), got_frame);
            }
            let now = self.clock.now();
            if let Some(idle) = watchdog.stalled_for(now) {
                let what = if got_frame {
                    "no frame"
                } else {
                    "no first frame"
                };
                return (
                    Ended::Fault(format!("{what} for {:.1} s: stalled", idle.as_secs_f64())),
                    got_frame,
                );
            }

            let Some(sample) = conn.appsink.try_pull_sample(PULL_TIMEOUT) else {
                if conn.appsink.is_eos() {
                    return (Ended::Fault(EOS_REASON.into()), got_frame);
                }
                continue;
            };
            watchdog.progress(self.clock.now());
            pulled_total += 1;
            if !got_frame {
                got_frame = true;
                let decoder = conn
                    .decoder
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                info!(camera = %s.id, decoder = decoder.as_deref().unwrap_or("?"), "streaming");
                self.status.update(|st| {
                    st.state = CameraState::Streaming;
                    st.decoder = decoder;
                    st.last_error = None;
                });
            }
            let decoded_now = conn.decoded.load(Ordering::Relaxed);
            let frame = match to_frame(&s, &conn.pipeline, &sample, self.sequence) {
                Ok(frame) => frame,
                Err(e) => return (Ended::Fault(e), got_frame),
            };
            self.sequence += 1;
            let stream_time = frame.pts.unwrap_or_default();
            let (width, height) = (frame.width, frame.height);
            let outcome = if limiter.admit(stream_time) {
                match self.frames.try_send(frame) {
                    Ok(()) => Outcome::Analysed,
                    Err(TrySendError::Full(_)) => {
                        queue_drops += 1;
                        Outcome::Dropped
                    }
                    Err(TrySendError::Disconnected(_)) => return (Ended::ConsumerGone, got_frame),
                }
            } else {
                Outcome::Skipped
            };
            let elapsed = fps_window.0.elapsed();
            let fps = (elapsed >= Duration::from_secs(1)).then(|| {
                let fps = (decoded_now - fps_window.1) as f64 / elapsed.as_secs_f64();
                fps_window = (Instant::now(), decoded_now);
                fps
            });
            self.status.update(|st| {
                match outcome {
                    Outcome::Analysed => st.frames_analysed += 1,
                    Outcome::Skipped => st.frames_skipped += 1,
                    Outcome::Dropped => {}
                }
                // Decoded frames that were never pulled were dropped by the appsink (newest frame
                // wins), less the few still waiting in its queue.
                let appsink_drops =
                    decoded_now.saturating_sub(pulled_total + APPSINK_MAX_BUFFERS as u64);
                st.frames_decoded = base.frames_decoded + decoded_now;
                st.frames_dropped = st
                    .frames_dropped
                    .max(base.frames_dropped + queue_drops + appsink_drops);
                st.width = width;
                st.height = height;
                if let Some(fps) = fps {
                    st.fps = fps;
                }
            });
        }
    }
}

/// The first error or end-of-stream waiting on the bus, described for the camera's status. A
/// hardware decoder that errors is marked broken (and said so), so the reconnect uses the next
/// one until it is probed again.
fn bus_fault(bus: &gst::Bus, conn: &Connection) -> Option<String> {
    let msg = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos])?;
    match msg.view() {
        gst::MessageView::Error(err) => {
            // Elements are named after their factory plus a number, e.g. "nvh264dec0".
            let from = msg.src().map(|o| o.name().to_string()).unwrap_or_default();
            if let Some(name) = conn
                .decoder
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_deref()
                && decoder::is_hardware(name)
                && from.starts_with(name)
            {
                decoder::mark_broken(name, &err.error().to_string());
            }
            Some(describe_error(&from, &err.error(), err.debug().as_deref()))
        }
        _ => Some(EOS_REASON.to_owned()),
    }
}

enum Outcome {
    Analysed,
    Skipped,
    Dropped,
}

/// Replaces GStreamer's vaguest messages with what a person can act on.
fn explain_fault(reason: String, settings: &CameraSettings) -> String {
    if reason.contains("Failed to connect") {
        // rtspsrc reports every connect failure as a "Generic error"; find out why.
        connect_failure(&settings.url).unwrap_or(reason)
    } else if reason.contains("No supported stream was found") {
        format!(
            "the server offers no stream over transport {} (VLC, for one, refuses TCP): \
             try transport = \"udp\" or \"auto\"",
            settings.transport
        )
    } else {
        reason
    }
}

/// Why a TCP connection to the camera fails, if it does (e.g. "connection refused").
fn connect_failure(url: &url::Url) -> Option<String> {
    use std::net::{TcpStream, ToSocketAddrs};
    let host = url.host_str()?;
    let port = url
        .port()
        .unwrap_or(if url.scheme() == "rtsps" { 322 } else { 554 });
    let addrs = match (host.trim_start_matches('[').trim_end_matches(']'), port).to_socket_addrs() {
        Ok(addrs) => addrs,
        Err(e) => return Some(format!("cannot resolve {host}: {e}")),
    };
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => return None,
            Err(e) => last = Some(format!("cannot connect to {host}:{port}: {e}")),
        }
    }
    last
}

fn describe_error(from: &str, err: &glib::Error, debug: Option<&str>) -> String {
    // rtspsrc's debug string is "file(line): function (): element path:\ndetail"; the detail
    // carries what is useful ("Connection refused", "Not Found (404)").
    let detail = debug
        .and_then(|d| d.split_once('\n'))
        .map(|(_, detail)| detail.trim().to_owned())
        .filter(|d| !d.is_empty());
    match detail {
        Some(detail) => format!("{from}: {err} ({detail})"),
        None => format!("{from}: {err}"),
    }
}

/// The first error on the bus, if any (after a failed state change).
fn bus_error(pipeline: &gst::Pipeline) -> Option<String> {
    let msg = pipeline.bus()?.pop_filtered(&[gst::MessageType::Error])?;
    match msg.view() {
        gst::MessageView::Error(err) => Some(describe_error(
            &msg.src().map(|o| o.name().to_string()).unwrap_or_default(),
            &err.error(),
            err.debug().as_deref(),
        )),
        _ => None,
    }
}

/// Links one of rtspsrc's new pads: video to depay → parse → decoder → convert → appsink; other
/// media to a fakesink so an unlinked pad does not stop the stream.
fn link_stream(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    sink_pad: &gst::Pad,
    decoded: &Arc<AtomicU64>,
    chosen: &Arc<std::sync::Mutex<Option<String>>>,
) -> Result<(), String> {
    let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
    let st = caps.structure(0).ok_or("stream has empty caps")?;
    let media = st.get::<&str>("media").unwrap_or("");
    let encoding = st.get::<&str>("encoding-name").unwrap_or("");
    if media != "video" || sink_pad.is_linked() {
        let fakesink = make("fakesink")?;
        fakesink.set_property("sync", false);
        pipeline.add(&fakesink).map_err(|e| e.to_string())?;
        fakesink
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
        let pad_sink = fakesink.static_pad("sink").ok_or("fakesink has no pad")?;
        pad.link(&pad_sink).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let codec = Codec::from_encoding_name(encoding).ok_or_else(|| {
        format!("unsupported video encoding {encoding:?}; Custos reads H.264 and H.265")
    })?;
    let decoder_name = decoder::choose(codec)
        .ok_or_else(|| format!("no {codec:?} decoder is installed (run scripts/setup)"))?;
    let chain = [
        make(codec.depayloader())?,
        make(codec.parser())?,
        make(decoder_name)?,
        // Passthrough when the decoder already emits I420/NV12; converts 10-bit and others.
        make("videoconvert")?,
    ];
    pipeline.add_many(&chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(&chain).map_err(|e| e.to_string())?;
    let dec_src = chain[2].static_pad("src").ok_or("decoder has no src pad")?;
    let counter = decoded.clone();
    dec_src.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        counter.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    let conv_src = chain[3]
        .static_pad("src")
        .ok_or("videoconvert has no src pad")?;
    conv_src
        .link(sink_pad)
        .map_err(|e| format!("cannot link to appsink: {e}"))?;
    for el in &chain {
        el.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    let depay_sink = chain[0]
        .static_pad("sink")
        .ok_or("depayloader has no sink pad")?;
    pad.link(&depay_sink)
        .map_err(|e| format!("cannot link {encoding} stream: {e}"))?;
    *chosen.lock().unwrap_or_else(|e| e.into_inner()) = Some(decoder_name.to_owned());
    Ok(())
}

fn make(factory: &str) -> Result<gst::Element, String> {
    gst::ElementFactory::make(factory)
        .build()
        .map_err(|_| format!("GStreamer element {factory} is missing (run scripts/setup)"))
}

/// Wraps a decoded sample as a [`Frame`] without copying its pixels.
fn to_frame(
    s: &CameraSettings,
    pipeline: &gst::Pipeline,
    sample: &gst::Sample,
    sequence: u64,
) -> Result<Frame, String> {
    let caps = sample.caps().ok_or("decoded sample has no caps")?;
    let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| format!("bad video caps: {e}"))?;
    let buffer = sample
        .buffer_owned()
        .ok_or("decoded sample has no buffer")?;

    let pts = buffer.pts();
    let running = pts.and_then(|pts| {
        sample.segment().and_then(|seg| {
            seg.downcast_ref::<gst::format::Time>()
                .and_then(|seg| seg.to_running_time(pts))
        })
    });
    let received_at = match (pipeline.base_time(), running) {
        (Some(base), Some(running)) => {
            UNIX_EPOCH + Duration::from_nanos((base + running).nseconds())
        }
        _ => SystemTime::now(),
    };
    let captured_at = buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|m| {
            m.reference()
                .structure(0)
                .is_some_and(|st| st.name() == "timestamp/x-ntp")
        })
        .and_then(|m| Duration::from_nanos(m.timestamp().nseconds()).checked_sub(NTP_UNIX_OFFSET))
        .map(|since_unix| UNIX_EPOCH + since_unix);

    let format = match info.format() {
        gst_video::VideoFormat::I420 => FrameFormat::I420,
        gst_video::VideoFormat::Nv12 => FrameFormat::Nv12,
        other => return Err(format!("unexpected decoded format {other:?}")),
    };
    let (width, height) = (info.width(), info.height());
    let offsets = info.offset();
    let strides = info.stride();
    let plane = |i: usize, row_bytes: u32, rows: u32| Plane {
        offset: offsets[i],
        stride: strides[i].max(0) as usize,
        row_bytes: row_bytes as usize,
        rows: rows as usize,
    };
    let luma = plane(0, width, height);
    let chroma = s.chroma.then(|| {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        match format {
            FrameFormat::I420 => [plane(1, cw, ch), plane(2, cw, ch)],
            FrameFormat::Nv12 => [plane(1, cw * 2, ch), plane(1, cw * 2, ch)],
        }
    });
    let mapped = buffer
        .into_mapped_buffer_readable()
        .map_err(|_| "cannot map decoded buffer")?;
    let data = Bytes::from_owner(mapped);
    luma.check(data.len()).map_err(|e| e.to_string())?;
    for p in chroma.iter().flatten() {
        p.check(data.len()).map_err(|e| e.to_string())?;
    }
    Ok(Frame {
        camera: s.id.clone(),
        sequence,
        pts: running.map(|t| Duration::from_nanos(t.nseconds())),
        received_at,
        captured_at,
        width,
        height,
        format,
        data,
        luma,
        chroma,
    })
}
