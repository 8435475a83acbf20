//! The detector's convolutions in plain Rust. Each output value sums bias, then inputs in the
//! order channel, tap row, tap column — the order the WGSL kernel uses — so both backends agree
//! to float rounding.

use rayon::prelude::*;

use crate::detector::{Conv, DetectorModel};
use crate::{Map, Tensor};

/// Runs the whole network on one pyramid level: the head tensor (score, l, t, r, b per cell).
pub fn forward(model: &DetectorModel, level: &Map) -> Tensor {
    let norm = &model.input;
    let mut x = Tensor {
        channels: 1,
        width: level.width,
        height: level.height,
        data: level
            .data
            .iter()
            .map(|v| (v - norm.subtract) / norm.divide)
            .collect(),
    };
    for layer in &model.layers {
        x = conv(&x, layer);
    }
    x
}

/// One convolution with zero padding, output channels in parallel. Uses AVX2 where the CPU has
/// it (decided at run time, so one binary serves every x86-64 machine).
pub fn conv(x: &Tensor, l: &Conv) -> Tensor {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, checked just above.
        return unsafe { conv_avx2(x, l) };
    }
    conv_portable(x, l)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn conv_avx2(x: &Tensor, l: &Conv) -> Tensor {
    conv_portable(x, l)
}

/// Output pixels and output channels computed together: the accumulators of one block stay
/// in registers while every input value is loaded once for `OC_BLOCK` channels.
const LANES: usize = 8;
const OC_BLOCK: usize = 8;

/// The input zero-padded and split by column phase: phase `p` of a padded row holds columns
/// `p, p + s, p + 2s, …`, so every tap of a strided layer reads a contiguous run. Runs carry
/// `LANES` spare zeros so that a block at the right edge reads no further checks.
struct Padded {
    stride: usize,
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Padded {
    fn new(x: &Tensor, stride: usize, pad: usize) -> Self {
        let (w, h) = (x.width as usize, x.height as usize);
        let rows = h + 2 * pad;
        let cols = (w + 2 * pad).div_ceil(stride) + LANES;
        let mut data = vec![0.0; x.channels as usize * rows * stride * cols];
        for (c, plane) in x.data.chunks_exact(w * h).enumerate() {
            for (y, row) in plane.chunks_exact(w).enumerate() {
                let base = (c * rows + y + pad) * stride * cols;
                // Padded column px = i + pad goes to phase px % stride, index px / stride;
                // counted rather than divided per pixel.
                let (mut phase, mut index) = (pad % stride, pad / stride);
                for v in row {
                    data[base + phase * cols + index] = *v;
                    phase += 1;
                    if phase == stride {
                        phase = 0;
                        index += 1;
                    }
                }
            }
        }
        Self {
            stride,
            rows,
            cols,
            data,
        }
    }

    /// Where phase 0 of padded row `y` of channel `c` starts in `data`.
    fn row_start(&self, c: usize, y: usize) -> usize {
        (c * self.rows + y) * self.stride * self.cols
    }

    /// Offset from a row's start to the run a tap `dx` columns right of an output column's
    /// input column reads: its phase, then its index within the phase.
    fn tap_offset(&self, dx: usize) -> usize {
        (dx % self.stride) * self.cols + dx / self.stride
    }
}

/// The first `LANES` values (the padding guarantees there are that many).
#[inline(always)]
fn lanes(s: &[f32]) -> [f32; LANES] {
    let mut v = [0.0; LANES];
    v.copy_from_slice(&s[..LANES]);
    v
}

#[inline(always)]
fn block(s: &[f32]) -> [f32; OC_BLOCK] {
    let mut v = [0.0; OC_BLOCK];
    v.copy_from_slice(&s[..OC_BLOCK]);
    v
}

#[inline(always)]
fn conv_portable(x: &Tensor, l: &Conv) -> Tensor {
    let (ow, oh) = (l.out_size(x.width) as usize, l.out_size(x.height) as usize);
    let mut out = Tensor::zeros(l.out_channels, ow as u32, oh as u32);
    let (k, s, d) = (l.kernel as usize, l.stride as usize, l.dilation as usize);
    let input = Padded::new(x, s, l.pad() as usize);
    let taps = l.in_channels as usize * k * k;
    // Weights regrouped per block of output channels: [tap][channel in block], zero-filled
    // past the last channel.
    let blocks = (l.out_channels as usize).div_ceil(OC_BLOCK);
    let mut grouped = vec![0.0f32; blocks * taps * OC_BLOCK];
    for oc in 0..l.out_channels as usize {
        for t in 0..taps {
            let (ic, ky, kx) = (t / (k * k), t / k % k, t % k);
            grouped[((oc / OC_BLOCK) * taps + t) * OC_BLOCK + oc % OC_BLOCK] =
                l.weights[l.weight_index(oc as u32, ic as u32, ky as u32, kx as u32)];
        }
    }
    let tap_offsets: Vec<usize> = (0..k).map(|kx| input.tap_offset(kx * d)).collect();
    let plane = ow * oh;
    out.data
        .par_chunks_mut(OC_BLOCK * plane)
        .enumerate()
        .for_each(|(b, planes)| {
            let first = b * OC_BLOCK;
            let n_oc = planes.len() / plane;
            let weights = &grouped[b * taps * OC_BLOCK..(b + 1) * taps * OC_BLOCK];
            let mut bias = [0.0f32; OC_BLOCK];
            for (o, v) in bias.iter_mut().enumerate().take(n_oc) {
                *v = l.bias[first + o];
            }
            for oy in 0..oh {
                for x0 in (0..ow).step_by(LANES) {
                    let mut acc = [[0.0f32; LANES]; OC_BLOCK];
                    for (o, a) in acc.iter_mut().enumerate() {
                        *a = [bias[o]; LANES];
                    }
                    // Sum in the order channel, tap row, tap column — the WGSL kernel's.
                    let mut t = 0;
                    for ic in 0..l.in_channels as usize {
                        for ky in 0..k {
                            let row = input.row_start(ic, oy * s + ky * d) + x0;
                            for &off in &tap_offsets {
                                let v = lanes(&input.data[row + off..]);
                                let wb = block(&weights[t * OC_BLOCK..]);
                                for o in 0..OC_BLOCK {
                                    for i in 0..LANES {
                                        acc[o][i] += wb[o] * v[i];
                                    }
                                }
                                t += 1;
                            }
                        }
                    }
                    let n = LANES.min(ow - x0);
                    for (o, a) in acc.iter().enumerate().take(n_oc) {
                        let dst = &mut planes[o * plane + oy * ow + x0..][..n];
                        for (dv, &av) in dst.iter_mut().zip(a) {
                            *dv = if l.relu { av.max(0.0) } else { av };
                        }
                    }
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, written the slow and obvious way.
    fn reference(x: &Tensor, l: &Conv) -> Tensor {
        let (ow, oh) = (l.out_size(x.width), l.out_size(x.height));
        let mut out = Tensor::zeros(l.out_channels, ow, oh);
        for oc in 0..l.out_channels {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = l.bias[oc as usize];
                    for ic in 0..l.in_channels {
                        for ky in 0..l.kernel {
                            for kx in 0..l.kernel {
                                let iy = (oy * l.stride + ky * l.dilation) as i64 - l.pad() as i64;
                                let ix = (ox * l.stride + kx * l.dilation) as i64 - l.pad() as i64;
                                if iy < 0 || ix < 0 || iy >= x.height as i64 || ix >= x.width as i64
                                {
                                    continue;
                                }
                                let v = x.channel(ic)[(iy * x.width as i64 + ix) as usize];
                                acc += l.weights[l.weight_index(oc, ic, ky, kx)] * v;
                            }
                        }
                    }
                    if l.relu {
                        acc = acc.max(0.0);
                    }
                    out.data[((oc * oh + oy) * ow + ox) as usize] = acc;
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_for_every_stride_and_dilation() {
        let mut seed = 7u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (seed >> 16) as f32 / 32_768.0 - 1.0
        };
        for (kernel, stride, dilation, w, h) in [
            (3, 1, 1, 13, 7),
            (3, 2, 1, 13, 7),
            (3, 1, 4, 9, 11),
            (1, 1, 1, 5, 3),
            (3, 2, 1, 1, 1),
            (5, 3, 2, 17, 4),
        ] {
            let l = Conv {
                in_channels: 2,
                out_channels: 3,
                kernel,
                stride,
                dilation,
                relu: stride == 2,
                weights: (0..3 * 2 * kernel * kernel).map(|_| rnd()).collect(),
                bias: (0..3).map(|_| rnd()).collect(),
            };
            let x = Tensor {
                channels: 2,
                width: w,
                height: h,
                data: (0..2 * w * h).map(|_| rnd()).collect(),
            };
            let got = conv(&x, &l);
            let want = reference(&x, &l);
            let diff = got.max_rel_diff(&want);
            assert!(
                diff.is_some_and(|d| d < 1e-5),
                "{kernel} {stride} {dilation}: {diff:?}"
            );
        }
    }
}
