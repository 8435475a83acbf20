//! The `[analysis]` section of the config file. Every key has a default (docs/config.md).

use std::collections::BTreeMap;
use std::time::Duration;

use custos_kernels::BackendChoice;
use custos_track::{GateConfig, PriorConfig, TrackerConfig};
use serde::Deserialize;

use super::AnalysisError;

/// Which kernels backend localises plates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// wgpu on a real GPU, otherwise native.
    #[default]
    Auto,
    Native,
    Wgpu,
}

impl From<Backend> for BackendChoice {
    fn from(b: Backend) -> Self {
        match b {
            Backend::Auto => BackendChoice::Auto,
            Backend::Native => BackendChoice::Native,
            Backend::Wgpu => BackendChoice::Wgpu,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalysisConfig {
    /// Kernels backend: `auto`, `native` or `wgpu`.
    pub backend: Backend,
    /// Threads of the native backend; 0: one per core.
    pub kernel_threads: usize,
    /// Detector score (0–1) below which a region is not a plate.
    pub detect_threshold: f32,
    /// Most plate candidates kept per frame.
    pub max_candidates: usize,
    /// Context added around each plate quad before it is cut out, as a share of its size.
    pub crop_margin: f32,
    /// Frames waiting for the kernels, all cameras together; when full the ingest drops the
    /// newest frame and counts it against its camera.
    pub frame_queue: usize,
    /// Most frames (from any cameras) localised per kernels call.
    pub kernel_batch: usize,
    /// Analysed frames waiting for OCR between the kernels and the OCR stage.
    pub ocr_frame_queue: usize,
    /// Crops per OCR inference.
    pub ocr_batch: usize,
    /// An OCR batch runs when its oldest crop has waited this long, full or not.
    pub ocr_deadline_ms: u64,
    /// Most crops waiting for OCR; beyond it the oldest are dropped and counted.
    pub ocr_queue: usize,
    /// Passes waiting for the consumer (store, alerts); beyond it new ones are dropped and
    /// counted, so a slow consumer never stalls analysis.
    pub pass_queue: usize,
    /// How often cameras whose frames stopped have their open tracks ended.
    pub expire_every_ms: u64,
    /// Passes whose voted text is shorter are dropped (and counted): one to three characters
    /// are nearly always a false detection (a grille, a sign, a wheel arch) read as a letter.
    pub min_pass_chars: usize,
    /// A pass that begins within this many milliseconds (frame time) of an earlier pass of the
    /// same camera ending, and reads the same text or a part of it (≥ 4 characters), is the
    /// same vehicle whose track split (missed detections, a misread stretch): the two are
    /// merged. Each pass is held until `tracker.max_gap_ms` + this long after the last read
    /// like it, so this adds to the delay of every pass. 0: no merging, no hold.
    pub merge_gap_ms: u64,
    /// Tracking and voting (all cameras).
    pub tracker: TrackerConfig,
    /// What a pass's evidence must show before it is stored (all cameras).
    pub gate: GateConfig,
    /// Plate format priors for every camera without its own entry in `camera_priors`.
    pub priors: PriorConfig,
    /// Format priors per camera id, replacing `priors` for that camera.
    pub camera_priors: BTreeMap<String, PriorConfig>,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Auto,
            kernel_threads: 0,
            detect_threshold: 0.3,
            max_candidates: 10,
            crop_margin: 0.05,
            frame_queue: 16,
            kernel_batch: 8,
            ocr_frame_queue: 16,
            ocr_batch: 32,
            ocr_deadline_ms: 10,
            ocr_queue: 256,
            pass_queue: 256,
            expire_every_ms: 250,
            min_pass_chars: 4,
            merge_gap_ms: 2000,
            tracker: TrackerConfig::default(),
            gate: GateConfig::default(),
            priors: PriorConfig::default(),
            camera_priors: BTreeMap::new(),
        }
    }
}

impl AnalysisConfig {
    /// Checks ranges and that `camera_priors` names only configured cameras.
    pub fn validate(&self, cameras: &[&str]) -> Result<(), AnalysisError> {
        let bad = |key: &'static str, why: String| AnalysisError::Config { key, why };
        for (key, v, max) in [
            ("kernel_batch", self.kernel_batch, 256),
            ("max_candidates", self.max_candidates, 256),
            ("frame_queue", self.frame_queue, 100_000),
            ("ocr_frame_queue", self.ocr_frame_queue, 100_000),
            ("ocr_batch", self.ocr_batch, 4096),
            ("ocr_queue", self.ocr_queue, 1_000_000),
            ("pass_queue", self.pass_queue, 1_000_000),
        ] {
            if v == 0 || v > max {
                return Err(bad(key, format!("is {v}; it must be 1 to {max}")));
            }
        }
        if self.ocr_queue < self.ocr_batch {
            return Err(bad(
                "ocr_queue",
                format!(
                    "is {}; it must be at least ocr_batch ({})",
                    self.ocr_queue, self.ocr_batch
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.detect_threshold) {
            return Err(bad(
                "detect_threshold",
                format!("is {}; it must be 0 to 1", self.detect_threshold),
            ));
        }
        if !(0.0..=1.0).contains(&self.crop_margin) {
            return Err(bad(
                "crop_margin",
                format!("is {}; it must be 0 to 1", self.crop_margin),
            ));
        }
        if self.merge_gap_ms > 60_000 {
            return Err(bad(
                "merge_gap_ms",
                format!("is {}; it must be at most 60000", self.merge_gap_ms),
            ));
        }
        if self.min_pass_chars > 16 {
            return Err(bad(
                "min_pass_chars",
                format!("is {}; it must be at most 16", self.min_pass_chars),
            ));
        }
        if self.ocr_deadline_ms > 10_000 {
            return Err(bad(
                "ocr_deadline_ms",
                format!("is {}; it must be at most 10000", self.ocr_deadline_ms),
            ));
        }
        if !(10..=60_000).contains(&self.expire_every_ms) {
            return Err(bad(
                "expire_every_ms",
                format!("is {}; it must be 10 to 60000", self.expire_every_ms),
            ));
        }
        self.tracker
            .validate()
            .map_err(|e| bad("tracker", e.to_string()))?;
        self.gate
            .validate()
            .map_err(|e| bad("gate", e.to_string()))?;
        custos_track::FormatPriors::new(&self.priors).map_err(|e| bad("priors", e.to_string()))?;
        for (id, priors) in &self.camera_priors {
            if !cameras.contains(&id.as_str()) {
                return Err(bad(
                    "camera_priors",
                    format!("names camera {id:?}, which is not configured"),
                ));
            }
            custos_track::FormatPriors::new(priors)
                .map_err(|e| bad("camera_priors", format!("camera {id:?}: {e}")))?;
        }
        Ok(())
    }

    /// The priors that apply to `camera`.
    pub fn priors_for(&self, camera: &str) -> &PriorConfig {
        self.camera_priors.get(camera).unwrap_or(&self.priors)
    }

    pub fn ocr_deadline(&self) -> Duration {
        Duration::from_millis(self.ocr_deadline_ms)
    }

    pub fn expire_every(&self) -> Duration {
        Duration::from_millis(self.expire_every_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_unknown_keys_are_refused() {
        AnalysisConfig::default().validate(&[]).unwrap();
        let c: AnalysisConfig = toml::from_str(
            "backend = \"native\"\nkernel_batch = 4\n[tracker]\nmin_frames = 2\n\
             [camera_priors.cam0]\nregions = [\"us\"]\n",
        )
        .unwrap();
        assert_eq!(c.backend, Backend::Native);
        assert_eq!(c.tracker.min_frames, 2);
        c.validate(&["cam0"]).unwrap();
        assert!(matches!(
            c.validate(&["cam1"]),
            Err(AnalysisError::Config {
                key: "camera_priors",
                ..
            })
        ));
        assert!(toml::from_str::<AnalysisConfig>("kernel_bach = 4").is_err());
        let zero: AnalysisConfig = toml::from_str("ocr_batch = 0").unwrap();
        assert!(zero.validate(&[]).is_err());
    }
}
