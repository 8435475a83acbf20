//! The native CPU backend: plain Rust kernels, parallel with rayon across frames, rows and
//! channels.

pub mod conv;
pub mod filters;
mod scratch;

use custos_core::Candidate;
use rayon::prelude::*;

use crate::{
    BackendInfo, BackendKind, CropJob, CropSpec, DetectParams, FrameMaps, KernelError, Localizer,
    LumaView, batch::check_jobs, boxes, warp,
};

/// The pyramid and the detector's output on every searched level of one frame.
pub fn frame_maps(luma: &LumaView<'_>, p: &DetectParams) -> FrameMaps {
    let mut pyramid = Vec::new();
    for level in 1..=p.max_level() {
        let next = match pyramid.last() {
            None => filters::downscale_luma(luma),
            Some(prev) => filters::downscale(prev),
        };
        debug_assert_eq!(pyramid.len() as u32 + 1, level);
        pyramid.push(next);
    }
    let heads = p
        .model
        .levels
        .iter()
        .filter_map(|&level| {
            let src = &pyramid[level as usize - 1];
            p.model
                .searchable(src.width, src.height)
                .then(|| (level, conv::forward(&p.model, src)))
        })
        .collect();
    FrameMaps { pyramid, heads }
}

/// Plate localisation on the CPU.
pub struct NativeLocalizer {
    params: DetectParams,
    pool: rayon::ThreadPool,
    info: BackendInfo,
}

impl NativeLocalizer {
    /// A native backend on `threads` worker threads (`None`: one per core).
    pub fn new(params: DetectParams, threads: Option<usize>) -> Result<Self, KernelError> {
        params.validate()?;
        let mut builder = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("kernels-{i}"));
        if let Some(n) = threads {
            builder = builder.num_threads(n.max(1));
        }
        let pool = builder
            .build()
            .map_err(|e| KernelError::ThreadPool(e.to_string()))?;
        let info = BackendInfo {
            kind: BackendKind::Native,
            adapter: format!("CPU, {} threads", pool.current_num_threads()),
        };
        Ok(Self { params, pool, info })
    }
}

impl Localizer for NativeLocalizer {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn params(&self) -> &DetectParams {
        &self.params
    }

    fn maps(&mut self, frames: &[LumaView<'_>]) -> Result<Vec<FrameMaps>, KernelError> {
        let p = &self.params;
        Ok(self
            .pool
            .install(|| frames.par_iter().map(|f| frame_maps(f, p)).collect()))
    }

    fn localize(&mut self, frames: &[LumaView<'_>]) -> Result<Vec<Vec<Candidate>>, KernelError> {
        let p = &self.params;
        Ok(self.pool.install(|| {
            frames
                .par_iter()
                .map(|f| {
                    let maps = frame_maps(f, p);
                    boxes::decode(&maps.head_refs(), f.width(), f.height(), p)
                })
                .collect()
        }))
    }

    fn crop(
        &mut self,
        frames: &[LumaView<'_>],
        jobs: &[CropJob],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_jobs(jobs, frames.len(), spec, out.len())?;
        self.pool
            .install(|| warp::warp_jobs(frames, jobs, spec, out));
        Ok(())
    }
}
