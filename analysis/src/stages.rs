//! The three stage threads: kernels, OCR, tracker.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use custos_core::{CameraId, Candidate, Frame, PlateText, polygon};
use custos_kernels::{CropSpec, Localizer, LumaView};
use custos_ocr::{BatchPolicy, Batcher, GrayCrop, Recognizer};
use custos_track::{Detection, Gate, Pushed, SplitMerger, Tracker, one_per_plate};
use tracing::{debug, warn};

use super::metrics::Metrics;
use super::{FrameReads, Pass, PassSink, PlateCrop};

const RELAXED: Ordering = Ordering::Relaxed;
/// How long an idle stage waits before looking at the stop flag again.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Longest a crop may wait past its batch deadline while frames queued behind it fill its
/// batch.
const MAX_EXTRA_CROP_WAIT: Duration = Duration::from_millis(250);

/// One frame after the kernels: its candidates with their crops.
pub struct Localized {
    camera: usize,
    at: SystemTime,
    /// When the ingest received the frame (wall clock), for the frame→read latency.
    received: SystemTime,
    found: Vec<(Candidate, PlateCrop)>,
}

/// One frame after the OCR: its detections, ready for the tracker.
pub struct ReadFrame {
    camera: usize,
    at: SystemTime,
    detections: Vec<Detection<PlateCrop>>,
}

pub struct Kernels {
    pub cameras: Vec<CameraId>,
    /// Each camera's region of interest, if any.
    pub rois: Vec<Option<Vec<[f64; 2]>>>,
    pub localizer: Box<dyn Localizer>,
    pub spec: CropSpec,
    pub batch: usize,
    pub max_candidates: usize,
    pub input: Receiver<Frame>,
    pub output: Sender<Localized>,
    pub stop: Arc<AtomicBool>,
    pub metrics: Arc<Metrics>,
}

impl Kernels {
    pub fn run(mut self) {
        // One crop buffer for the whole run, room for every candidate of a full batch.
        let mut buffer = vec![0f32; self.batch * self.max_candidates * self.spec.floats_per_crop()];
        let mut frames: Vec<(usize, Frame)> = Vec::with_capacity(self.batch);
        loop {
            // After stop: take what is queued without waiting, then end.
            let stopping = self.stop.load(RELAXED);
            let first = if stopping {
                match self.input.try_recv() {
                    Ok(f) => f,
                    Err(_) => break,
                }
            } else {
                match self.input.recv_timeout(IDLE_POLL) {
                    Ok(f) => f,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            frames.clear();
            self.admit(first, &mut frames);
            // Batch whatever else is already waiting (any camera), without waiting for more:
            // under light load a frame goes through alone and fast.
            while frames.len() < self.batch {
                match self.input.try_recv() {
                    Ok(f) => self.admit(f, &mut frames),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            if !frames.is_empty() && !self.process(&frames, &mut buffer) {
                break;
            }
        }
        debug!("kernels stage stopped");
    }

    fn admit(&self, frame: Frame, frames: &mut Vec<(usize, Frame)>) {
        match self.cameras.iter().position(|c| *c == frame.camera) {
            Some(i) => {
                self.metrics.camera(i).frame_in();
                frames.push((i, frame));
            }
            None => {
                self.metrics.frames_unknown_camera.fetch_add(1, RELAXED);
            }
        }
    }

    /// Localises and crops one batch and sends each frame on. False when the OCR stage is gone.
    fn process(&mut self, frames: &[(usize, Frame)], buffer: &mut [f32]) -> bool {
        let mut views = Vec::with_capacity(frames.len());
        let mut kept = Vec::with_capacity(frames.len());
        for (camera, frame) in frames {
            match LumaView::from_frame(frame) {
                Ok(v) => {
                    views.push(v);
                    kept.push((*camera, frame.received_at, frame.best_time()));
                }
                Err(e) => {
                    self.metrics.camera(*camera).frame_failed();
                    warn!(camera = %frame.camera, error = %e, "frame not analysed");
                }
            }
        }
        if views.is_empty() {
            return true;
        }
        let started = Instant::now();
        let result = self.localizer.process(&views, &self.spec, buffer);
        self.metrics.kernel_time.observe(started.elapsed());
        self.metrics.kernel_batches.fetch_add(1, RELAXED);
        self.metrics
            .kernel_frames
            .fetch_add(views.len() as u64, RELAXED);
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                self.metrics.kernel_errors.fetch_add(1, RELAXED);
                for (camera, _, _) in &kept {
                    self.metrics.camera(*camera).frame_failed();
                }
                warn!(error = %e, frames = views.len(), "kernels batch failed");
                return true;
            }
        };
        self.metrics
            .candidates_unbuffered
            .fetch_add(out.dropped as u64, RELAXED);
        let per = self.spec.floats_per_crop();
        let mut found: Vec<Vec<(Candidate, PlateCrop)>> = vec![Vec::new(); kept.len()];
        for job in &out.crops {
            let Some((camera, _, _)) = kept.get(job.frame) else {
                continue;
            };
            if let Some(Some(roi)) = self.rois.get(*camera) {
                let b = job.candidate.bbox();
                let centre = [f64::from(b[0] + b[2]) * 0.5, f64::from(b[1] + b[3]) * 0.5];
                if !polygon::contains(roi, centre) {
                    self.metrics.camera(*camera).candidate_outside_roi();
                    continue;
                }
            }
            let floats = &buffer[job.slot * per..(job.slot + 1) * per];
            // Values are already 0–255 (see the spec); round back to bytes once, here, so the
            // OCR and the pass's best crop share one copy.
            let pixels: Arc<[u8]> = floats
                .iter()
                .map(|v| v.round().clamp(0.0, 255.0) as u8)
                .collect();
            if let Some(f) = found.get_mut(job.frame) {
                f.push((
                    job.candidate,
                    PlateCrop {
                        width: self.spec.width,
                        height: self.spec.height,
                        pixels,
                    },
                ));
            }
        }
        for ((camera, received, at), found) in kept.into_iter().zip(found) {
            self.metrics.camera(camera).frame_analysed(found.len());
            let frame = Localized {
                camera,
                at,
                received,
                found,
            };
            if self.output.send(frame).is_err() {
                return false;
            }
        }
        true
    }
}

/// A frame waiting for its crops to be read.
struct Pending {
    frame: Localized,
    reads: Vec<Option<PlateText>>,
    remaining: usize,
}

pub struct Ocr {
    pub recognizer: Box<dyn Recognizer>,
    pub policy: BatchPolicy,
    pub input: Receiver<Localized>,
    pub output: Sender<ReadFrame>,
    /// Crops in the batcher, for the queue-depth metric.
    pub waiting: Arc<AtomicUsize>,
    pub metrics: Arc<Metrics>,
    pub cameras: Vec<CameraId>,
    pub tap: Option<Sender<FrameReads>>,
}

/// A crop in the batcher: (frame key, crop index in that frame).
type CropKey = (u64, usize);

impl Ocr {
    pub fn run(mut self) {
        let mut batcher: Batcher<CropKey> = Batcher::new(self.policy);
        // Frames in arrival order; keys are consecutive, the front one is `first_key`.
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut first_key = 0u64;
        // Mirrors the batcher's queue so that a crop it drops (oldest first) is known.
        let mut queued: VecDeque<CropKey> = VecDeque::new();
        let mut dropped_seen = 0u64;
        let mut open = true;
        while open {
            let timeout = batcher
                .next_deadline()
                .map_or(IDLE_POLL, |d| d.saturating_duration_since(Instant::now()));
            match self.input.recv_timeout(timeout) {
                Ok(frame) => {
                    let key = first_key + pending.len() as u64;
                    let n = frame.found.len();
                    for i in 0..n {
                        batcher.push(Instant::now(), (key, i));
                        queued.push_back((key, i));
                    }
                    pending.push_back(Pending {
                        frame,
                        reads: vec![None; n],
                        remaining: n,
                    });
                    let dropped = batcher.dropped();
                    for _ in dropped_seen..dropped {
                        if let Some((k, _)) = queued.pop_front() {
                            Self::settle(&mut pending, first_key, k, 1);
                        }
                    }
                    self.metrics
                        .ocr_crops_dropped
                        .fetch_add(dropped - dropped_seen, RELAXED);
                    dropped_seen = dropped;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
            loop {
                let batch = if open {
                    // A deadline batch only when no more frames wait: after a long inference
                    // the leftovers are past their deadline, while frames queued meanwhile
                    // would fill the batch.
                    // Capped, so a stream of frames without plates cannot starve a crop.
                    let now = Instant::now();
                    let more_waiting = !self.input.is_empty();
                    let overdue = batcher
                        .next_deadline()
                        .is_some_and(|d| now >= d + MAX_EXTRA_CROP_WAIT);
                    if batcher.len() >= self.policy.max_batch || !more_waiting || overdue {
                        batcher.take_ready(now)
                    } else {
                        None
                    }
                } else {
                    // Shutdown: read everything still waiting, a full batch at a time.
                    let n = batcher.len().min(self.policy.max_batch.max(1));
                    (n > 0).then(|| {
                        let mut all = batcher.drain();
                        let rest = all.split_off(n);
                        for k in rest {
                            batcher.push(Instant::now(), k);
                        }
                        all
                    })
                };
                let Some(batch) = batch else { break };
                queued.drain(..batch.len().min(queued.len()));
                self.read(&batch, &mut pending, first_key);
            }
            self.waiting.store(batcher.len(), RELAXED);
            // Hand on every finished frame at the front, keeping each camera's order.
            while pending.front().is_some_and(|p| p.remaining == 0) {
                let Some(p) = pending.pop_front() else { break };
                first_key += 1;
                if !self.finish(p) {
                    return;
                }
            }
        }
        debug!("OCR stage stopped");
    }

    /// Marks `n` crops of frame `key` done (read or dropped).
    fn settle(pending: &mut VecDeque<Pending>, first_key: u64, key: u64, n: usize) {
        if let Some(p) = key
            .checked_sub(first_key)
            .and_then(|i| pending.get_mut(i as usize))
        {
            p.remaining = p.remaining.saturating_sub(n);
        }
    }

    fn read(&mut self, batch: &[CropKey], pending: &mut VecDeque<Pending>, first_key: u64) {
        let slot = |(key, i): CropKey| -> Option<(usize, usize)> {
            Some((usize::try_from(key.checked_sub(first_key)?).ok()?, i))
        };
        let crops: Vec<GrayCrop<'_>> = batch
            .iter()
            .filter_map(|k| {
                let (f, i) = slot(*k)?;
                let (_, crop) = pending.get(f)?.frame.found.get(i)?;
                GrayCrop::packed(crop.width as usize, crop.height as usize, &crop.pixels)
            })
            .collect();
        let started = Instant::now();
        let result = if crops.len() == batch.len() {
            self.recognizer.recognize(&crops)
        } else {
            // Cannot happen (keys are made from the frames kept here); read nothing rather
            // than attach texts to the wrong crops.
            Err(custos_ocr::OcrError::Inference(
                "batch keys do not match the pending frames".into(),
            ))
        };
        let elapsed = started.elapsed();
        self.metrics.ocr_time.observe(elapsed);
        self.metrics.ocr_batches.fetch_add(1, RELAXED);
        self.metrics
            .ocr_crops
            .fetch_add(batch.len() as u64, RELAXED);
        let texts = match result {
            Ok(texts) => texts.into_iter().map(Some).collect(),
            Err(e) => {
                self.metrics.ocr_errors.fetch_add(1, RELAXED);
                warn!(error = %e, crops = batch.len(), "OCR batch failed");
                vec![None; batch.len()]
            }
        };
        for (k, text) in batch.iter().zip(texts) {
            if let Some((f, i)) = slot(*k)
                && let Some(p) = pending.get_mut(f)
            {
                if let Some(r) = p.reads.get_mut(i) {
                    *r = text;
                }
                p.remaining = p.remaining.saturating_sub(1);
            }
        }
    }

    /// Sends a finished frame to the tracker. False when the tracker is gone.
    fn finish(&self, p: Pending) -> bool {
        let Localized {
            camera,
            at,
            received,
            found,
        } = p.frame;
        if !found.is_empty() {
            // From the frame's arrival (its timestamp on the pipeline clock): the RTSP jitter
            // buffer's hold (`latency_ms`), decoding, queue waits, kernels and OCR (not the
            // voting window).
            let latency = SystemTime::now()
                .duration_since(received)
                .unwrap_or_default();
            self.metrics.frame_to_read.observe(latency);
        }
        if let Some(tap) = &self.tap {
            let reads = found
                .iter()
                .zip(&p.reads)
                .map(|((c, _), r)| {
                    r.as_ref().map_or((*c, String::new(), 0.0), |r| {
                        (*c, r.text.clone(), r.confidence)
                    })
                })
                .collect();
            let _ = tap.try_send(FrameReads {
                camera: self.cameras[camera].clone(),
                at,
                reads,
            });
        }
        // A candidate with no text (nothing legible, dropped or failed) is no evidence of a
        // plate for the tracker: it would only open tracks that end without a read.
        let detections: Vec<_> = found
            .into_iter()
            .zip(p.reads)
            .filter_map(|((candidate, crop), read)| {
                let read = read.filter(|r| !r.text.is_empty())?;
                Some(Detection {
                    candidate,
                    read,
                    crop,
                })
            })
            .collect();
        let detections = one_per_plate(detections);
        self.metrics.camera(camera).reads(detections.len());
        self.output
            .send(ReadFrame {
                camera,
                at,
                detections,
            })
            .is_ok()
    }
}

pub struct Tracking {
    pub trackers: Vec<Tracker<PlateCrop>>,
    /// Per camera, its passes held in case a vehicle's track was split.
    pub mergers: Vec<SplitMerger<PlateCrop>>,
    pub expire_every: Duration,
    pub min_pass_chars: usize,
    pub gate: Gate,
    pub input: Receiver<ReadFrame>,
    pub sink: Box<dyn PassSink>,
    pub metrics: Arc<Metrics>,
}

impl Tracking {
    pub fn run(mut self) {
        // Per camera: the last frame's time and when it arrived here, to extrapolate the
        // camera's clock when its frames stop (expiry by frame time alone would wait forever).
        let mut last: Vec<Option<(SystemTime, Instant)>> = vec![None; self.trackers.len()];
        let mut next_expiry = Instant::now() + self.expire_every;
        loop {
            let wait = next_expiry.saturating_duration_since(Instant::now());
            match self.input.recv_timeout(wait) {
                Ok(frame) => {
                    let camera = frame.camera;
                    let (Some(tracker), Some(merger)) =
                        (self.trackers.get_mut(camera), self.mergers.get_mut(camera))
                    else {
                        continue;
                    };
                    merger.seen(
                        frame.at,
                        frame.detections.iter().map(|d| d.read.text.as_str()),
                    );
                    let passes = tracker.push(frame.at, frame.detections);
                    last[camera] = Some((frame.at, Instant::now()));
                    self.emit(camera, passes, frame.at);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_expiry {
                next_expiry = Instant::now() + self.expire_every;
                for (camera, seen) in last.iter().enumerate() {
                    let Some((at, arrived)) = *seen else {
                        continue;
                    };
                    // Only cameras that went quiet: a camera still sending frames has its
                    // tracks ended by `push` in its own frame time, which is what the gap
                    // means. A frame-time guess from the wall clock would end tracks early
                    // whenever the pipeline lags.
                    let quiet = arrived.elapsed();
                    if quiet > self.trackers[camera].config().max_gap() {
                        let now = at + quiet;
                        let passes = self.trackers[camera].expire(now);
                        self.emit(camera, passes, now);
                    }
                }
            }
        }
        for camera in 0..self.trackers.len() {
            let passes = self.trackers[camera].flush();
            self.emit(camera, passes, SystemTime::UNIX_EPOCH);
            for pass in self.mergers[camera].drain() {
                self.send(camera, pass);
            }
        }
        debug!("tracker stage stopped");
    }

    /// Takes the passes the tracker ended, merges or holds them, and sends the held passes
    /// whose time has come (`now`: the camera's frame time).
    fn emit(&mut self, camera: usize, passes: Vec<Pass>, now: SystemTime) {
        let tracker = &self.trackers[camera];
        self.metrics
            .camera(camera)
            .tracker(tracker.active_tracks(), &tracker.stats());
        for pass in passes {
            match self.mergers[camera].push(pass) {
                Pushed::Ready(pass) => self.send(camera, pass),
                Pushed::Merged => self.metrics.camera(camera).pass_merged(),
                Pushed::Held => {}
            }
        }
        for pass in self.mergers[camera].due(now) {
            self.send(camera, pass);
        }
    }

    fn send(&mut self, camera: usize, pass: Pass) {
        let metrics = self.metrics.clone();
        let c = metrics.camera(camera);
        if pass.text.chars().count() < self.min_pass_chars {
            c.pass_too_short();
            return;
        }
        let verdict = self.gate.judge(&pass);
        // Ids and counts only: plate text stays out of the logs.
        debug!(
            camera = %pass.camera,
            track = pass.track_id,
            frames = pass.frames,
            reads = pass.reads,
            agreeing = pass.agreeing_reads,
            confidence = pass.confidence,
            min_char = pass.char_confidences.iter().copied().fold(1.0f32, f32::min),
            detector = pass.detector_score,
            chars = pass.char_confidences.len(),
            fits_format = ?pass.fits_format,
            dropped = verdict.err().map(|r| r.label()),
            "vehicle pass"
        );
        match verdict {
            Ok(()) => c.pass_handed_on(self.sink.pass(pass)),
            Err(reason) => c.pass_gated(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use custos_core::CharRead;

    fn read(text: &str, confidence: f32) -> PlateText {
        PlateText::from_chars(
            text.chars()
                .map(|ch| CharRead {
                    ch,
                    confidence,
                    alternatives: Vec::new(),
                })
                .collect(),
        )
    }

    fn crop(v: u8) -> PlateCrop {
        PlateCrop {
            width: 2,
            height: 1,
            pixels: vec![v, v].into(),
        }
    }

    fn det(x: f32, w: f32, text: &str, confidence: f32) -> Detection<PlateCrop> {
        Detection {
            candidate: Candidate::from_rect(x, 100.0, w, 30.0, 0.5),
            read: read(text, confidence),
            crop: crop(0),
        }
    }

    /// Runs the tracker stage on `frames` (time ms, detections) and returns what reached the
    /// sink.
    fn track(merge_gap: Duration, frames: Vec<(u64, Vec<Detection<PlateCrop>>)>) -> Vec<Pass> {
        let (before, after) = track_split(merge_gap, frames);
        before.into_iter().chain(after).collect()
    }

    /// As `track`, telling the passes sent while frames still came from those sent when the
    /// stage stopped.
    fn track_split(
        merge_gap: Duration,
        frames: Vec<(u64, Vec<Detection<PlateCrop>>)>,
    ) -> (Vec<Pass>, Vec<Pass>) {
        let camera = CameraId::new("cam0").unwrap();
        let tracker = Tracker::new(
            camera.clone(),
            custos_track::TrackerConfig::default(),
            custos_track::FormatPriors::default(),
        )
        .unwrap();
        let tracker_gap = tracker.config().max_gap();
        let (tx, rx) = crossbeam_channel::bounded(1000);
        let (pass_tx, pass_rx) = crossbeam_channel::bounded::<Pass>(100);
        let stage = Tracking {
            trackers: vec![tracker],
            expire_every: Duration::from_millis(50),
            min_pass_chars: 4,
            gate: Gate::new(custos_track::GateConfig::default()),
            mergers: vec![SplitMerger::new(merge_gap, tracker_gap)],
            input: rx,
            sink: Box::new(pass_tx),
            metrics: Arc::new(Metrics::new(vec![camera], "test".into(), "test".into())),
        };
        let t = |ms| SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
        let handle = std::thread::spawn(move || stage.run());
        for (ms, detections) in frames {
            tx.send(ReadFrame {
                camera: 0,
                at: t(ms),
                detections,
            })
            .unwrap();
        }
        let mut before = Vec::new();
        while let Ok(p) = pass_rx.recv_timeout(Duration::from_millis(500)) {
            before.push(p);
        }
        drop(tx);
        handle.join().unwrap();
        (before, pass_rx.try_iter().collect())
    }

    /// A plate read in full, then lost for longer than the tracker's gap (its track ends), then
    /// read with its first character cut off: one vehicle.
    fn split_plate() -> Vec<(u64, Vec<Detection<PlateCrop>>)> {
        let mut frames = Vec::new();
        for i in 0..5u64 {
            frames.push((
                i * 125,
                vec![det(100.0 + 10.0 * i as f32, 120.0, "TNG1956", 0.9)],
            ));
        }
        for i in 5..17u64 {
            frames.push((i * 125, Vec::new()));
        }
        for i in 17..22u64 {
            frames.push((
                i * 125,
                vec![det(300.0 + 10.0 * i as f32, 110.0, "NG1956", 0.95)],
            ));
        }
        // Frames keep coming, empty, for 5 s of frame time: every hold runs out.
        for i in 22..62u64 {
            frames.push((i * 125, Vec::new()));
        }
        frames
    }

    #[test]
    fn the_tracker_stage_merges_a_split_track_into_one_pass() {
        let passes = track(Duration::from_secs(2), split_plate());
        let texts: Vec<&str> = passes.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["TNG1956"]);
        assert_eq!(passes[0].frames, 10);

        // Without merging the vehicle is reported twice: what the merge is for.
        let passes = track(Duration::ZERO, split_plate());
        let texts: Vec<&str> = passes.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, ["TNG1956", "NG1956"]);
    }

    #[test]
    fn the_tracker_stage_holds_passes_only_while_needed_and_flushes_at_the_end() {
        // One plate, then empty frames for 5 s of frame time: released before the end…
        let mut frames: Vec<_> = (0..5u64)
            .map(|i| {
                (
                    i * 125,
                    vec![det(100.0 + 10.0 * i as f32, 120.0, "ABC1234", 0.9)],
                )
            })
            .collect();
        frames.extend((5..45u64).map(|i| (i * 125, Vec::new())));
        let (before, after) = track_split(Duration::from_secs(2), frames.clone());
        assert_eq!((before.len(), after.len()), (1, 0));
        // Held for the tracker's gap and the merge gap after its last read, not longer.
        frames.truncate(5 + 20);
        let (before, after) = track_split(Duration::from_secs(2), frames);
        assert_eq!((before.len(), after.len()), (0, 1));
        // …and a plate still in view when the stage stops is flushed, not lost.
        let frames: Vec<_> = (0..5u64)
            .map(|i| {
                (
                    i * 125,
                    vec![det(100.0 + 10.0 * i as f32, 120.0, "ABC1234", 0.9)],
                )
            })
            .collect();
        assert_eq!(track(Duration::from_secs(2), frames).len(), 1);
    }
}
