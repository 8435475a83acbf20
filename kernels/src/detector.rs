//! The plate detector network, as trained by `models/train_detector.py`: a tiny fully-
//! convolutional net run on each searched pyramid level. On a grid of `stride` pixels it
//! predicts, per cell, a plate score (logit) and the distances from the cell centre to the
//! plate's left, top, right and bottom edges (÷ `box_scale`). Both backends run the same layers
//! from this description; `boxes::decode` turns their outputs into candidates.

use std::path::Path;

use serde::Deserialize;

use crate::KernelError;

/// The detector committed in `models/`, compiled in so the binary needs no model file.
const BUNDLED: &str = include_str!("../../models/plate-detector.json");

/// Channels of the network's output: score logit, then left, top, right, bottom.
pub const HEAD_CHANNELS: u32 = 5;

/// One convolution (zero padding keeps "same" alignment; weights are `[out][in][k][k]`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv {
    #[serde(rename = "in")]
    pub in_channels: u32,
    #[serde(rename = "out")]
    pub out_channels: u32,
    pub kernel: u32,
    pub stride: u32,
    pub dilation: u32,
    pub relu: bool,
    pub weights: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Conv {
    /// Zero padding on each side.
    pub fn pad(&self) -> u32 {
        self.dilation * (self.kernel - 1) / 2
    }

    /// Output size along one axis for an input of `n` (PyTorch's formula).
    pub fn out_size(&self, n: u32) -> u32 {
        let span = self.dilation * (self.kernel - 1) + 1;
        (n + 2 * self.pad()).saturating_sub(span) / self.stride + 1
    }

    /// Index of the weight for output `o`, input `i`, tap (`ky`, `kx`).
    pub fn weight_index(&self, o: u32, i: u32, ky: u32, kx: u32) -> usize {
        (((o * self.in_channels + i) * self.kernel + ky) * self.kernel + kx) as usize
    }
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputNorm {
    pub subtract: f32,
    pub divide: f32,
}

/// A detector network and how to read its output.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectorModel {
    pub format: String,
    #[serde(default)]
    pub about: String,
    /// Grey levels are mapped to `(v - subtract) / divide` before the first layer.
    pub input: InputNorm,
    /// Pixels of the level per output cell.
    pub stride: u32,
    pub box_scale: f32,
    /// Pyramid levels to run on (level k is 2^k times smaller than the frame).
    pub levels: Vec<u32>,
    /// Boxes whose height at the level is outside this range are left to another level.
    pub min_height: f32,
    pub max_height: f32,
    pub layers: Vec<Conv>,
    /// What training measured; informative only.
    #[serde(default)]
    pub metrics: serde_json::Value,
}

const FORMAT: &str = "custos-plate-detector/1";

impl DetectorModel {
    /// The detector committed in `models/plate-detector.json`.
    pub fn bundled() -> Self {
        // The file is ours and a unit test parses it; failing here is a build defect.
        Self::from_json(BUNDLED).expect("models/plate-detector.json is a valid detector")
    }

    /// Reads a detector file written by `models/train_detector.py`.
    pub fn load(path: &Path) -> Result<Self, KernelError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KernelError::BadModel(format!("cannot read {}: {e}", path.display())))?;
        Self::from_json(&text)
            .map_err(|e| KernelError::BadModel(format!("{}: {e}", path.display())))
    }

    pub fn from_json(text: &str) -> Result<Self, KernelError> {
        let model: Self =
            serde_json::from_str(text).map_err(|e| KernelError::BadModel(e.to_string()))?;
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<(), KernelError> {
        let bad = |s: String| Err(KernelError::BadModel(s));
        if self.format != FORMAT {
            return bad(format!("format {:?}, expected {FORMAT:?}", self.format));
        }
        let norm = &self.input;
        if !(norm.divide.is_finite() && norm.divide != 0.0 && norm.subtract.is_finite()) {
            return bad("input normalisation must be finite with a non-zero divisor".into());
        }
        if self.levels.is_empty() || self.levels.iter().any(|&l| !(1..=8).contains(&l)) {
            return bad("levels must be between 1 and 8".into());
        }
        let sizes_ok = self.box_scale.is_finite()
            && self.box_scale > 0.0
            && self.min_height >= 0.0
            && self.min_height <= self.max_height;
        if !sizes_ok {
            return bad("box_scale must be positive and min_height ≤ max_height".into());
        }
        let mut channels = 1;
        let mut stride = 1;
        for (i, l) in self.layers.iter().enumerate() {
            let n = i + 1;
            if l.in_channels != channels {
                return bad(format!(
                    "layer {n} reads {} channels, the previous one gives {channels}",
                    l.in_channels
                ));
            }
            if l.kernel % 2 == 0 || l.kernel > 7 || !(1..=4).contains(&l.stride) {
                return bad(format!("layer {n}: kernel must be odd ≤ 7, stride 1–4"));
            }
            if !(1..=16).contains(&l.dilation) || !(1..=256).contains(&l.out_channels) {
                return bad(format!("layer {n}: dilation 1–16, 1–256 channels"));
            }
            let want = (l.out_channels * l.in_channels * l.kernel * l.kernel) as usize;
            if l.weights.len() != want || l.bias.len() != l.out_channels as usize {
                return bad(format!(
                    "layer {n}: {} weights and {} biases, expected {want} and {}",
                    l.weights.len(),
                    l.bias.len(),
                    l.out_channels
                ));
            }
            if l.weights.iter().chain(&l.bias).any(|v| !v.is_finite()) {
                return bad(format!("layer {n}: weights must be finite"));
            }
            channels = l.out_channels;
            stride *= l.stride;
        }
        if channels != HEAD_CHANNELS {
            return bad(format!(
                "the last layer gives {channels} channels, expected {HEAD_CHANNELS}"
            ));
        }
        if stride != self.stride {
            return bad(format!(
                "the layers' strides multiply to {stride}, the file says {}",
                self.stride
            ));
        }
        Ok(())
    }

    /// The deepest pyramid level the detector needs.
    pub fn max_level(&self) -> u32 {
        self.levels.iter().copied().max().unwrap_or(0)
    }

    /// Whether a pyramid level of this size is worth running: it must hold a plate's worth of
    /// output cells. Both backends skip the same levels.
    pub fn searchable(&self, width: u32, height: u32) -> bool {
        width >= 2 * self.stride && height >= 2 * self.stride
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_model_is_valid() {
        let m = DetectorModel::bundled();
        assert_eq!(m.layers.last().map(|l| l.out_channels), Some(HEAD_CHANNELS));
        assert!(m.max_level() >= 1);
    }

    #[test]
    fn output_size_follows_pytorch() {
        let conv = |kernel, stride, dilation| Conv {
            in_channels: 1,
            out_channels: 1,
            kernel,
            stride,
            dilation,
            relu: false,
            weights: vec![],
            bias: vec![],
        };
        assert_eq!(conv(3, 2, 1).out_size(640), 320);
        assert_eq!(conv(3, 2, 1).out_size(641), 321);
        assert_eq!(conv(3, 1, 4).out_size(45), 45);
        assert_eq!(conv(1, 1, 1).out_size(7), 7);
        assert_eq!(conv(3, 2, 1).out_size(1), 1);
    }

    #[test]
    fn rejects_broken_files_with_a_reason() {
        let mut v: serde_json::Value = serde_json::from_str(BUNDLED).unwrap();
        v["layers"][1]["in"] = 3.into();
        let e = DetectorModel::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 2 reads 3 channels"), "{e}");
        let mut v: serde_json::Value = serde_json::from_str(BUNDLED).unwrap();
        v["layers"][0]["weights"] = serde_json::json!([1.0]);
        let e = DetectorModel::from_json(&v.to_string())
            .unwrap_err()
            .to_string();
        assert!(e.contains("layer 1: 1 weights"), "{e}");
        assert!(DetectorModel::from_json("{}").is_err());
        assert!(DetectorModel::from_json("not json").is_err());
    }
}
