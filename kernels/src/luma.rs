//! A checked, borrowed view of a frame's full-resolution luma plane: the one input every kernel
//! reads. Checking once here lets the kernels index without bounds surprises.

use custos_core::Frame;

use crate::KernelError;

/// Largest side the kernels accept. Keeps byte offsets inside `u32` on the GPU (16384² < 2³²)
/// with room for row padding.
pub const MAX_SIDE: u32 = 16384;

/// Luma plane of one frame: `height` rows of `width` bytes, `stride` bytes apart, starting at
/// `data[0]`.
#[derive(Clone, Copy, Debug)]
pub struct LumaView<'a> {
    data: &'a [u8],
    width: u32,
    height: u32,
    stride: usize,
}

impl<'a> LumaView<'a> {
    /// A view of `height` rows of `width` bytes, `stride` bytes apart, from `data[0]`.
    pub fn new(
        data: &'a [u8],
        width: u32,
        height: u32,
        stride: usize,
    ) -> Result<Self, KernelError> {
        if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
            return Err(KernelError::BadFrameSize {
                width,
                height,
                max: MAX_SIDE,
            });
        }
        if stride < width as usize {
            return Err(KernelError::StrideTooShort { stride, width });
        }
        // Sides ≤ 16384 and a stride no larger than the slice keep this from overflowing.
        let need = (height as usize - 1)
            .checked_mul(stride)
            .and_then(|v| v.checked_add(width as usize))
            .unwrap_or(usize::MAX);
        if data.len() < need {
            return Err(KernelError::PlaneTooSmall {
                len: data.len(),
                need,
                width,
                height,
                stride,
            });
        }
        Ok(Self {
            data: &data[..need],
            width,
            height,
            stride,
        })
    }

    /// A view of a tightly packed `width × height` plane.
    pub fn packed(data: &'a [u8], width: u32, height: u32) -> Result<Self, KernelError> {
        Self::new(data, width, height, width as usize)
    }

    /// The luma plane of a decoded frame (I420 or NV12: luma comes first in both).
    pub fn from_frame(frame: &'a Frame) -> Result<Self, KernelError> {
        frame.luma.check(frame.data.len())?;
        if frame.luma.row_bytes < frame.width as usize || frame.luma.rows < frame.height as usize {
            return Err(KernelError::PlaneTooSmall {
                len: frame.luma.row_bytes * frame.luma.rows,
                need: frame.width as usize * frame.height as usize,
                width: frame.width,
                height: frame.height,
                stride: frame.luma.stride,
            });
        }
        Self::new(
            &frame.data[frame.luma.offset..],
            frame.width,
            frame.height,
            frame.luma.stride,
        )
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// The bytes from the first pixel to the last, rows `stride` apart.
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// Row `y` (`y < height`), `width` bytes.
    pub fn row(&self, y: u32) -> &'a [u8] {
        let start = y as usize * self.stride;
        &self.data[start..start + self.width as usize]
    }

    /// The pixel at (`x`, `y`) with coordinates clamped to the plane, as the GPU kernels read it.
    pub fn at_clamped(&self, x: i64, y: i64) -> u8 {
        let x = x.clamp(0, self.width as i64 - 1) as usize;
        let y = y.clamp(0, self.height as i64 - 1) as usize;
        self.data[y * self.stride + x]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_planes() {
        let data = [0u8; 20];
        assert!(LumaView::new(&data, 4, 5, 4).is_ok());
        assert!(matches!(
            LumaView::new(&data, 4, 6, 4),
            Err(KernelError::PlaneTooSmall { .. })
        ));
        assert!(matches!(
            LumaView::new(&data, 5, 2, 4),
            Err(KernelError::StrideTooShort { .. })
        ));
        assert!(matches!(
            LumaView::new(&data, 0, 2, 4),
            Err(KernelError::BadFrameSize { .. })
        ));
        // The last row needs only `width` bytes, not a whole stride.
        assert!(LumaView::new(&data[..18], 2, 3, 8).is_ok());
    }

    #[test]
    fn reads_rows_with_stride_and_clamps() {
        let data: Vec<u8> = (0..12).collect();
        let v = LumaView::new(&data, 3, 3, 4).unwrap();
        assert_eq!(v.row(1), &[4, 5, 6]);
        assert_eq!(v.at_clamped(-3, 0), 0);
        assert_eq!(v.at_clamped(7, 9), 10);
    }
}
