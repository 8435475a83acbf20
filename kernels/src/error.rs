//! The kernels' one error type: each variant names what is wrong and with what.

/// Everything the localisation and crop kernels can fail with.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("frame is {width}×{height}: both sides must be between 1 and {max} pixels")]
    BadFrameSize { width: u32, height: u32, max: u32 },
    #[error("luma stride {stride} is shorter than the frame width {width}")]
    StrideTooShort { stride: usize, width: u32 },
    #[error(
        "luma plane of {len} bytes is too small for {width}×{height} pixels with stride {stride} (needs {need})"
    )]
    PlaneTooSmall {
        len: usize,
        need: usize,
        width: u32,
        height: u32,
        stride: usize,
    },
    #[error("frame's luma plane is invalid: {0}")]
    Plane(#[from] custos_core::PlaneError),
    #[error("crop size {width}×{height} is invalid: both sides must be between 1 and 4096")]
    BadCropSize { width: u32, height: u32 },
    #[error("crop normalisation std {0} must be finite and positive")]
    BadCropStd(f32),
    #[error("batch buffer holds {len} floats, but {slots} crops of {width}×{height} need {need}")]
    BatchTooSmall {
        len: usize,
        need: usize,
        slots: usize,
        width: u32,
        height: u32,
    },
    #[error("crop job {job} names frame {frame}, but the batch has {frames} frames")]
    NoSuchFrame {
        job: usize,
        frame: usize,
        frames: usize,
    },
    #[error("detector parameters are invalid: {0}")]
    BadParams(String),
    #[error("plate detector model is invalid: {0}")]
    BadModel(String),
    #[error(
        "no wgpu adapter found ({0}); install a Vulkan driver (scripts/setup installs Mesa's lavapipe)"
    )]
    NoAdapter(String),
    #[error("wgpu device request failed on adapter {adapter}: {reason}")]
    Device { adapter: String, reason: String },
    #[error("GPU work failed: {0}")]
    Gpu(String),
    #[error("{what} needs a {bytes}-byte GPU buffer, more than the device allows ({limit} bytes)")]
    BufferTooLarge {
        what: &'static str,
        bytes: u64,
        limit: u64,
    },
    #[error("cannot build the native thread pool: {0}")]
    ThreadPool(String),
    #[error("unknown backend {0:?}: expected auto, native or wgpu")]
    UnknownBackend(String),
}
