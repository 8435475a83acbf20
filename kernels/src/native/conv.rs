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

/// One convolution with zero padding, output channels in parallel.
pub fn conv(x: &Tensor, l: &Conv) -> Tensor {
    let (ow, oh) = (l.out_size(x.width), l.out_size(x.height));
    let mut out = Tensor::zeros(l.out_channels, ow, oh);
    let plane = out.plane_len();
    let (iw, ih) = (x.width as i64, x.height as i64);
    let (s, d, pad) = (l.stride as i64, l.dilation as i64, l.pad() as i64);
    // Columns whose tap at offset `dx` lands inside the input: ox·s + dx ∈ [0, iw).
    let cols = |dx: i64| {
        let lo = if dx >= 0 { 0 } else { (-dx + s - 1) / s };
        let hi = if iw - dx <= 0 {
            0
        } else {
            ((iw - 1 - dx) / s + 1).min(ow as i64)
        };
        (lo.min(hi) as usize, hi.max(0) as usize)
    };
    out.data
        .par_chunks_mut(plane)
        .enumerate()
        .for_each(|(oc, o)| {
            o.fill(l.bias[oc]);
            for ic in 0..l.in_channels {
                let src = x.channel(ic);
                for ky in 0..l.kernel {
                    let dy = ky as i64 * d - pad;
                    for kx in 0..l.kernel {
                        let dx = kx as i64 * d - pad;
                        let w = l.weights[l.weight_index(oc as u32, ic, ky, kx)];
                        let (x0, x1) = cols(dx);
                        if x0 >= x1 {
                            continue;
                        }
                        for oy in 0..oh as i64 {
                            let iy = oy * s + dy;
                            if iy < 0 || iy >= ih {
                                continue;
                            }
                            let row = &src[(iy * iw) as usize..((iy + 1) * iw) as usize];
                            let orow = &mut o[oy as usize * ow as usize..][x0..x1];
                            if s == 1 {
                                let start = (x0 as i64 + dx) as usize;
                                for (acc, v) in orow.iter_mut().zip(&row[start..]) {
                                    *acc += w * v;
                                }
                            } else {
                                for (k, acc) in orow.iter_mut().enumerate() {
                                    *acc += w * row[((x0 + k) as i64 * s + dx) as usize];
                                }
                            }
                        }
                    }
                }
            }
            if l.relu {
                o.iter_mut().for_each(|v| *v = v.max(0.0));
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
