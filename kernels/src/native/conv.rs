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

/// One convolution with zero padding; blocks of output channels × bands of output rows in
/// parallel. Uses AVX2 + FMA where the CPU has them (decided at run time, so one binary serves
/// every x86-64 machine).
pub fn conv(x: &Tensor, l: &Conv) -> Tensor {
    let (ow, oh) = (l.out_size(x.width) as usize, l.out_size(x.height) as usize);
    let mut out = Tensor::zeros(l.out_channels, ow as u32, oh as u32);
    let job = Job::new(x, l, ow);
    let kernel = band_kernel();
    // A task: one block of output channels × one band of rows, writing straight into each of
    // the block's channel planes.
    let (plane, band) = (ow * oh, BAND_ROWS * ow);
    let mut tasks: Vec<(usize, usize, Vec<&mut [f32]>)> = Vec::new();
    if plane > 0 {
        for (b, planes) in out.data.chunks_mut(OC_BLOCK * plane).enumerate() {
            let mut bands: Vec<_> = planes
                .chunks_mut(plane)
                .map(|p| p.chunks_mut(band))
                .collect();
            for y0 in (0..oh).step_by(BAND_ROWS) {
                let slices = bands.iter_mut().filter_map(Iterator::next).collect();
                tasks.push((b, y0, slices));
            }
        }
    }
    tasks.into_par_iter().for_each(|(b, y0, mut slices)| {
        kernel(&job, b, y0, (y0 + BAND_ROWS).min(oh), &mut slices);
    });
    out
}

/// Output rows per parallel task: small enough that two cores share even a thin layer.
const BAND_ROWS: usize = 8;

/// Output pixels and output channels computed together: the accumulators of one block stay
/// in registers while every input value is loaded once for `OC_BLOCK` channels.
const LANES: usize = 8;
const OC_BLOCK: usize = 8;

/// Everything a band needs: the padded input, the regrouped weights and the geometry.
struct Job<'a> {
    l: &'a Conv,
    input: Padded,
    /// Per block of output channels: [tap][channel in block], zero past the last channel.
    grouped: Vec<f32>,
    tap_offsets: Vec<usize>,
    ow: usize,
}

impl<'a> Job<'a> {
    fn new(x: &Tensor, l: &'a Conv, ow: usize) -> Self {
        let (k, d) = (l.kernel as usize, l.dilation as usize);
        let input = Padded::new(x, l.stride as usize, l.pad() as usize);
        let taps = l.in_channels as usize * k * k;
        let blocks = (l.out_channels as usize).div_ceil(OC_BLOCK);
        let mut grouped = vec![0.0f32; blocks * taps * OC_BLOCK];
        for oc in 0..l.out_channels as usize {
            for t in 0..taps {
                let (ic, ky, kx) = (t / (k * k), t / k % k, t % k);
                grouped[((oc / OC_BLOCK) * taps + t) * OC_BLOCK + oc % OC_BLOCK] =
                    l.weights[l.weight_index(oc as u32, ic as u32, ky as u32, kx as u32)];
            }
        }
        let tap_offsets = (0..k).map(|kx| input.tap_offset(kx * d)).collect();
        Self {
            l,
            input,
            grouped,
            tap_offsets,
            ow,
        }
    }
}

type BandKernel = fn(&Job<'_>, usize, usize, usize, &mut [&mut [f32]]);

/// The band kernel for this CPU. The features are enabled on the kernel function itself:
/// a closure handed to rayon would not inherit them from an enclosing `#[target_feature]`
/// function, and the loops would fall back to SSE.
fn band_kernel() -> BandKernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: only chosen when the CPU supports AVX2 and FMA, checked just above.
        return |job, b, y0, y1, out| unsafe { band_avx2_fma(job, b, y0, y1, out) };
    }
    band::<false>
}

/// With fused multiply-adds: one instruction and one rounding per tap instead of two, so the
/// sums differ from the portable path's (and the WGSL kernel's) only in the last bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn band_avx2_fma(job: &Job<'_>, b: usize, y0: usize, y1: usize, out: &mut [&mut [f32]]) {
    band::<true>(job, b, y0, y1, out)
}

/// Output rows `y0..y1` of output-channel block `b`: `out[o]` is those rows of channel `o` of
/// the block.
#[inline(always)]
fn band<const FMA: bool>(job: &Job<'_>, b: usize, y0: usize, y1: usize, out: &mut [&mut [f32]]) {
    let (l, input, ow) = (job.l, &job.input, job.ow);
    let (k, s, d) = (l.kernel as usize, l.stride as usize, l.dilation as usize);
    let taps = l.in_channels as usize * k * k;
    let weights = &job.grouped[b * taps * OC_BLOCK..(b + 1) * taps * OC_BLOCK];
    let first = b * OC_BLOCK;
    let n_oc = OC_BLOCK.min(l.out_channels as usize - first);
    let mut bias = [0.0f32; OC_BLOCK];
    for (o, v) in bias.iter_mut().enumerate().take(n_oc) {
        *v = l.bias[first + o];
    }
    for oy in y0..y1 {
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
                    for &off in &job.tap_offsets {
                        let v = lanes(&input.data[row + off..]);
                        let wb = block(&weights[t * OC_BLOCK..]);
                        for o in 0..OC_BLOCK {
                            for i in 0..LANES {
                                acc[o][i] = if FMA {
                                    wb[o].mul_add(v[i], acc[o][i])
                                } else {
                                    acc[o][i] + wb[o] * v[i]
                                };
                            }
                        }
                        t += 1;
                    }
                }
            }
            let n = LANES.min(ow - x0);
            for (a, plane) in acc.iter().zip(out.iter_mut()).take(n_oc) {
                let dst = &mut plane[(oy - y0) * ow + x0..][..n];
                for (dv, &av) in dst.iter_mut().zip(a) {
                    *dv = if l.relu { av.max(0.0) } else { av };
                }
            }
        }
    }
}

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
                // Padded column px = i + pad goes to phase px % stride, index px / stride: each
                // phase takes every stride-th input column, starting at the first that lands
                // in it (a plain row copy when the stride is 1).
                for phase in 0..stride {
                    let first = (phase + stride - pad % stride) % stride;
                    let Some(src) = row.get(first..) else {
                        continue;
                    };
                    let dst = base + phase * cols + (first + pad) / stride;
                    for (d, v) in data[dst..].iter_mut().zip(src.iter().step_by(stride)) {
                        *d = *v;
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
