use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::CameraId;

/// Pixel layout of a frame's planes. Both put the full-resolution luma plane first, which is all
/// the localisation kernels need; chroma is carried only when a consumer asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFormat {
    /// Planar Y, U, V; chroma planes are half width and half height.
    I420,
    /// Planar Y then interleaved UV at half height (what hardware decoders emit).
    Nv12,
}

/// One plane inside a frame's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plane {
    /// Byte offset of the plane's first row in the buffer.
    pub offset: usize,
    /// Bytes from one row's start to the next (≥ the row's width in bytes).
    pub stride: usize,
    /// Width in bytes of a row's visible pixels.
    pub row_bytes: usize,
    /// Rows in the plane.
    pub rows: usize,
}

/// A plane that does not fit its buffer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "plane of {rows} rows × {row_bytes} bytes (stride {stride}) at offset {offset} does not fit a buffer of {len} bytes"
)]
pub struct PlaneError {
    /// The plane's [`Plane::offset`].
    pub offset: usize,
    /// The plane's [`Plane::stride`].
    pub stride: usize,
    /// The plane's [`Plane::row_bytes`].
    pub row_bytes: usize,
    /// The plane's [`Plane::rows`].
    pub rows: usize,
    /// The buffer's length in bytes.
    pub len: usize,
}

impl Plane {
    /// Checks that every row of the plane lies inside a buffer of `len` bytes.
    pub fn check(&self, len: usize) -> Result<(), PlaneError> {
        let err = || PlaneError {
            offset: self.offset,
            stride: self.stride,
            row_bytes: self.row_bytes,
            rows: self.rows,
            len,
        };
        if self.rows == 0 {
            return Ok(());
        }
        if self.stride < self.row_bytes {
            return Err(err());
        }
        let end = (self.rows - 1)
            .checked_mul(self.stride)
            .and_then(|v| v.checked_add(self.offset))
            .and_then(|v| v.checked_add(self.row_bytes))
            .ok_or_else(err)?;
        if end > len { Err(err()) } else { Ok(()) }
    }
}

/// A decoded video frame handed from ingest to the kernels. The pixel data is shared, not copied:
/// `data` may be the decoder's own buffer kept alive for as long as the frame is.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The camera that sent it.
    pub camera: CameraId,
    /// Counts every frame the camera decoded since Custos started, across reconnects, so gaps
    /// show frames that were skipped or dropped.
    pub sequence: u64,
    /// Presentation timestamp within the current connection's stream.
    pub pts: Option<Duration>,
    /// Wall-clock time at which the frame was received (pipeline base time + PTS on a realtime
    /// clock).
    pub received_at: SystemTime,
    /// The camera's own capture time, when it sends RTCP sender reports (NTP).
    pub captured_at: Option<SystemTime>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// How the planes are laid out in `data`.
    pub format: FrameFormat,
    /// The pixel bytes (shared, possibly the decoder's own buffer).
    pub data: Bytes,
    /// The luma (Y) plane in `data`.
    pub luma: Plane,
    /// Chroma planes (U and V for I420; the interleaved UV plane twice for NV12), when requested.
    pub chroma: Option<[Plane; 2]>,
}

impl Frame {
    /// Row `y` of the luma plane, `width` bytes long.
    pub fn luma_row(&self, y: usize) -> &[u8] {
        let start = self.luma.offset + y * self.luma.stride;
        &self.data[start..start + self.luma.row_bytes]
    }

    /// Copies the luma plane into a tightly packed `width × height` buffer.
    pub fn luma_packed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.luma.row_bytes * self.luma.rows);
        for y in 0..self.luma.rows {
            out.extend_from_slice(self.luma_row(y));
        }
        out
    }

    /// The camera's capture time when known, otherwise the time Custos received the frame.
    pub fn best_time(&self) -> SystemTime {
        self.captured_at.unwrap_or(self.received_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(offset: usize, stride: usize, row_bytes: usize, rows: usize) -> Plane {
        Plane {
            offset,
            stride,
            row_bytes,
            rows,
        }
    }

    #[test]
    fn plane_bounds() {
        assert!(plane(0, 8, 6, 4).check(30).is_ok());
        assert!(plane(0, 8, 6, 4).check(29).is_err());
        assert!(
            plane(0, 4, 6, 4).check(100).is_err(),
            "stride shorter than a row"
        );
        assert!(
            plane(usize::MAX, 8, 6, 4).check(100).is_err(),
            "overflow is an error"
        );
        assert!(plane(5, 8, 6, 0).check(0).is_ok());
    }

    #[test]
    fn packs_luma_without_padding() {
        let data: Vec<u8> = (0..16).collect();
        let frame = Frame {
            camera: CameraId::new("c").unwrap(),
            sequence: 0,
            pts: None,
            received_at: SystemTime::UNIX_EPOCH,
            captured_at: None,
            width: 3,
            height: 2,
            format: FrameFormat::I420,
            data: Bytes::from(data),
            luma: plane(1, 4, 3, 2),
            chroma: None,
        };
        assert_eq!(frame.luma_packed(), vec![1, 2, 3, 5, 6, 7]);
        assert_eq!(frame.best_time(), SystemTime::UNIX_EPOCH);
    }
}
