//! The `Localizer` trait: one interface, interchangeable engines (native CPU, wgpu).

use custos_core::Candidate;

use crate::{
    BackendInfo, BatchOutput, CropJob, CropSpec, DetectParams, KernelError, LumaView, Map, Tensor,
    batch::assign_slots,
};

/// Every intermediate result of one frame, for tests and tuning.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameMaps {
    /// Pyramid levels 1, 2, … (index 0 is level 1; level 0 is the frame itself).
    pub pyramid: Vec<Map>,
    /// `(level, detector output)` for each searched level: what box decoding reads.
    pub heads: Vec<(u32, Tensor)>,
}

impl FrameMaps {
    pub fn head_refs(&self) -> Vec<(u32, &Tensor)> {
        self.heads.iter().map(|(l, t)| (*l, t)).collect()
    }
}

/// Finds plate candidates in frames and cuts them into the OCR batch. One call takes frames from
/// any number of cameras; implementations process them in one submission where they can.
pub trait Localizer: Send {
    /// Which backend and adapter this is.
    fn info(&self) -> &BackendInfo;

    fn params(&self) -> &DetectParams;

    /// Every intermediate map of every frame (slower than `localize`: for tests and tuning).
    fn maps(&mut self, frames: &[LumaView<'_>]) -> Result<Vec<FrameMaps>, KernelError>;

    /// Each frame's candidates in frame coordinates, best first.
    fn localize(&mut self, frames: &[LumaView<'_>]) -> Result<Vec<Vec<Candidate>>, KernelError>;

    /// Crops, straightens, resizes and normalises each job's quad into its slot of `out`.
    fn crop(
        &mut self,
        frames: &[LumaView<'_>],
        jobs: &[CropJob],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), KernelError>;

    /// Localises, then crops every candidate that fits into `out` (frame by frame, best first).
    fn process(
        &mut self,
        frames: &[LumaView<'_>],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<BatchOutput, KernelError> {
        spec.validate()?;
        let candidates = self.localize(frames)?;
        let (crops, dropped) = assign_slots(&candidates, spec.capacity(out.len()));
        if dropped > 0 {
            tracing::debug!(dropped, slots = crops.len(), "batch buffer full");
        }
        self.crop(frames, &crops, spec, out)?;
        Ok(BatchOutput {
            candidates,
            crops,
            dropped,
        })
    }
}
