//! The detector's convolutions in plain Rust. Each output value sums bias, then inputs in the
//! order channel, tap row, tap column — the order the WGSL kernel uses — so both backends agree
//! to float rounding.

use rayon::prelude::*;

use super::scratch;
use crate::detector::{Conv, DetectorModel};
use crate::{Map, Tensor};

/// Runs the whole network on one pyramid level: the head tensor (score, l, t, r, b per cell).
pub fn forward(model: &DetectorModel, level: &Map) -> Tensor {
    let norm = &model.input;
    let mut x = Tensor {
        channels: 1,
        width: level.width,
        height: level.height,
        data: scratch::zeroed(level.data.len()),
    };
    for (d, v) in x.data.iter_mut().zip(&level.data) {
        *d = (v - norm.subtract) / norm.divide;
    }
    for layer in &model.layers {
        let next = conv(&x, layer);
        scratch::recycle(std::mem::replace(&mut x, next).data);
    }
    x
}

/// One convolution with zero padding; blocks of output channels × bands of output rows in
/// parallel. Uses AVX2 + FMA where the CPU has them (decided at run time, so one binary serves
/// every x86-64 machine).
pub fn conv(x: &Tensor, l: &Conv) -> Tensor {
    conv_with(x, l, band_kernel())
}

fn conv_with(x: &Tensor, l: &Conv, kernel: BandKernel) -> Tensor {
    let (ow, oh) = (l.out_size(x.width) as usize, l.out_size(x.height) as usize);
    let mut out = Tensor {
        channels: l.out_channels,
        width: ow as u32,
        height: oh as u32,
        data: scratch::zeroed(l.out_channels as usize * ow * oh),
    };
    let job = Job::new(x, l, ow);
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

/// A block of output values computed together: `OC_BLOCK` output channels × `PIXELS` output
/// columns. Its accumulators stay in registers (8 ymm on AVX2) while each input run is loaded
/// once for every channel of the block and each weight once for every column.
const LANES: usize = 8;
const PIXELS: usize = 2 * LANES;
const OC_BLOCK: usize = 4;

/// Everything a band needs: the padded input, the regrouped weights and the geometry.
struct Job<'a> {
    l: &'a Conv,
    input: Padded,
    /// Per block of output channels: [tap][channel in block], zero past the last channel.
    grouped: Vec<f32>,
    /// Per tap, in the sum's order (channel, tap row, tap column): where its input run starts,
    /// relative to where the output row's first run starts.
    taps: Vec<usize>,
    /// The largest of `taps`: how far right of an output row's first run the reads go.
    max_tap: usize,
    ow: usize,
}

impl<'a> Job<'a> {
    fn new(x: &Tensor, l: &'a Conv, ow: usize) -> Self {
        let (k, d) = (l.kernel as usize, l.dilation as usize);
        let input = Padded::new(x, l.stride as usize, l.pad() as usize);
        let n_taps = l.in_channels as usize * k * k;
        let blocks = (l.out_channels as usize).div_ceil(OC_BLOCK);
        let mut grouped = vec![0.0f32; blocks * n_taps * OC_BLOCK];
        for oc in 0..l.out_channels as usize {
            for t in 0..n_taps {
                let (ic, ky, kx) = (t / (k * k), t / k % k, t % k);
                grouped[((oc / OC_BLOCK) * n_taps + t) * OC_BLOCK + oc % OC_BLOCK] =
                    l.weights[l.weight_index(oc as u32, ic as u32, ky as u32, kx as u32)];
            }
        }
        let taps = (0..n_taps)
            .map(|t| {
                let (ic, ky, kx) = (t / (k * k), t / k % k, t % k);
                input.row_start(ic, ky * d) + input.tap_offset(kx * d)
            })
            .collect::<Vec<_>>();
        let max_tap = taps.iter().copied().max().unwrap_or(0);
        Self {
            l,
            input,
            grouped,
            taps,
            max_tap,
            ow,
        }
    }
}

type BandKernel = fn(&Job<'_>, usize, usize, usize, &mut [&mut [f32]]);

/// The band kernel for this CPU: AVX2 + FMA intrinsics where the CPU has them, else plain
/// loops (same sums, two roundings per tap instead of one).
fn band_kernel() -> BandKernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: only chosen when the CPU supports AVX2 and FMA, checked just above.
        return |job, b, y0, y1, out| unsafe { avx2::band(job, b, y0, y1, out) };
    }
    band_portable
}

/// What a band needs besides the job: the block's weights ([tap][channel in block]), its bias,
/// how many of its channels exist, and the distance between output rows in the padded input.
struct Block<'j> {
    weights: &'j [f32],
    bias: [f32; OC_BLOCK],
    n_oc: usize,
    row_step: usize,
}

impl<'j> Block<'j> {
    /// Block `b` of a job whose bands read rows up to `y1` (exclusive). Checks that every run
    /// such a band reads lies within the padded input, so that the tap loops need no checks.
    fn new(job: &'j Job<'_>, b: usize, y1: usize) -> Self {
        let (l, n_taps) = (job.l, job.taps.len());
        let first = b * OC_BLOCK;
        let n_oc = OC_BLOCK.min(l.out_channels as usize - first);
        let mut bias = [0.0f32; OC_BLOCK];
        bias[..n_oc].copy_from_slice(&l.bias[first..first + n_oc]);
        let row_step = l.stride as usize * job.input.row_start(0, 1);
        let last_x0 = (job.ow.max(1) - 1) / PIXELS * PIXELS;
        assert!(
            y1 >= 1 && (y1 - 1) * row_step + last_x0 + job.max_tap + PIXELS <= job.input.data.len()
        );
        Self {
            weights: &job.grouped[b * n_taps * OC_BLOCK..(b + 1) * n_taps * OC_BLOCK],
            bias,
            n_oc,
            row_step,
        }
    }

    /// Writes one block of sums (bias included) to the band's planes, ReLU applied if the
    /// layer has it; `n` columns of it exist.
    fn store(
        &self,
        relu: bool,
        acc: &[[f32; PIXELS]; OC_BLOCK],
        out: &mut [&mut [f32]],
        at: usize,
        n: usize,
    ) {
        for (a, plane) in acc.iter().zip(out.iter_mut()).take(self.n_oc) {
            for (dv, &av) in plane[at..at + n].iter_mut().zip(a) {
                *dv = if relu { av.max(0.0) } else { av };
            }
        }
    }
}

/// Output rows `y0..y1` of output-channel block `b`: `out[o]` is those rows of channel `o` of
/// the block. Sums in the order channel, tap row, tap column — the WGSL kernel's.
fn band_portable(job: &Job<'_>, b: usize, y0: usize, y1: usize, out: &mut [&mut [f32]]) {
    let blk = Block::new(job, b, y1);
    let data = &job.input.data;
    for oy in y0..y1 {
        for x0 in (0..job.ow).step_by(PIXELS) {
            let base = oy * blk.row_step + x0;
            let mut acc = [[0.0f32; PIXELS]; OC_BLOCK];
            for (o, a) in acc.iter_mut().enumerate() {
                *a = [blk.bias[o]; PIXELS];
            }
            for (&tap, w) in job.taps.iter().zip(blk.weights.chunks_exact(OC_BLOCK)) {
                let v = &data[base + tap..base + tap + PIXELS];
                for o in 0..OC_BLOCK {
                    for i in 0..PIXELS {
                        acc[o][i] += w[o] * v[i];
                    }
                }
            }
            let n = PIXELS.min(job.ow - x0);
            blk.store(job.l.relu, &acc, out, (oy - y0) * job.ow + x0, n);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Block, Job, LANES, OC_BLOCK, PIXELS};

    /// `band_portable` with fused multiply-adds: one rounding per tap instead of two, so the
    /// sums differ from the portable path's (and the WGSL kernel's) only in the last bits.
    /// The block's 4 channels × 2 vectors of accumulators stay in registers across the taps.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn band(
        job: &Job<'_>,
        b: usize,
        y0: usize,
        y1: usize,
        out: &mut [&mut [f32]],
    ) {
        let blk = Block::new(job, b, y1);
        let data = job.input.data.as_ptr();
        for oy in y0..y1 {
            for x0 in (0..job.ow).step_by(PIXELS) {
                let base = oy * blk.row_step + x0;
                let mut acc = [[_mm256_setzero_ps(); 2]; OC_BLOCK];
                for (o, a) in acc.iter_mut().enumerate() {
                    *a = [_mm256_set1_ps(blk.bias[o]); 2];
                }
                for (&tap, w) in job.taps.iter().zip(blk.weights.chunks_exact(OC_BLOCK)) {
                    // SAFETY: base + tap + PIXELS <= data.len(): `Block::new` checked it for
                    // the band's last row and last block, and every other block lies before.
                    let (v0, v1) = unsafe {
                        let p = data.add(base + tap);
                        (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(LANES)))
                    };
                    for o in 0..OC_BLOCK {
                        let wo = _mm256_set1_ps(w[o]);
                        acc[o][0] = _mm256_fmadd_ps(wo, v0, acc[o][0]);
                        acc[o][1] = _mm256_fmadd_ps(wo, v1, acc[o][1]);
                    }
                }
                let mut sums = [[0.0f32; PIXELS]; OC_BLOCK];
                for (s, a) in sums.iter_mut().zip(&acc) {
                    // SAFETY: `s` holds PIXELS = 2 × LANES floats.
                    unsafe {
                        _mm256_storeu_ps(s.as_mut_ptr(), a[0]);
                        _mm256_storeu_ps(s.as_mut_ptr().add(LANES), a[1]);
                    }
                }
                let n = PIXELS.min(job.ow - x0);
                blk.store(job.l.relu, &sums, out, (oy - y0) * job.ow + x0, n);
            }
        }
    }
}

/// The input zero-padded and split by column phase: phase `p` of a padded row holds columns
/// `p, p + s, p + 2s, …`, so every tap of a strided layer reads a contiguous run. Runs carry
/// `PIXELS` spare zeros so that a block at the right edge reads no further checks.
struct Padded {
    stride: usize,
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Drop for Padded {
    fn drop(&mut self) {
        scratch::recycle(std::mem::take(&mut self.data));
    }
}

impl Padded {
    fn new(x: &Tensor, stride: usize, pad: usize) -> Self {
        let (w, h) = (x.width as usize, x.height as usize);
        let rows = h + 2 * pad;
        let cols = (w + 2 * pad).div_ceil(stride) + PIXELS;
        let mut data = scratch::zeroed(x.channels as usize * rows * stride * cols);
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
                    let dst = &mut data[dst..dst + src.len().div_ceil(stride)];
                    match stride {
                        1 => dst.copy_from_slice(src),
                        2 => every_nth::<2>(dst, src),
                        _ => every_nth_dyn(dst, src, stride),
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

/// `dst[i] = src[i * N]`; a constant step lets the compiler vectorise the gather.
fn every_nth<const N: usize>(dst: &mut [f32], src: &[f32]) {
    let whole = src.chunks_exact(N);
    let tail = whole.remainder().first();
    let mut rest = dst.iter_mut();
    // `whole` first: zip asks it before taking a slot from `rest`, so the tail's slot is kept.
    for (c, d) in whole.zip(rest.by_ref()) {
        *d = c[0];
    }
    if let (Some(d), Some(&t)) = (rest.next(), tail) {
        *d = t;
    }
}

fn every_nth_dyn(dst: &mut [f32], src: &[f32], n: usize) {
    for (d, v) in dst.iter_mut().zip(src.iter().step_by(n)) {
        *d = *v;
    }
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
            let want = reference(&x, &l);
            // The kernel this CPU uses, and the portable one every CPU can fall back to.
            for (name, got) in [
                ("chosen", conv(&x, &l)),
                ("portable", conv_with(&x, &l, band_portable)),
            ] {
                let diff = got.max_rel_diff(&want);
                assert!(
                    diff.is_some_and(|d| d < 1e-5),
                    "{name}: {kernel} {stride} {dilation}: {diff:?}"
                );
            }
        }
    }
}
