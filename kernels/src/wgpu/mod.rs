//! The wgpu backend: the pyramid, the detector's convolutions and the crop warp as WGSL compute
//! shaders. All frames of a batch go into one command buffer (one submission for localisation,
//! one for the crops); only the small detector outputs come back for box decoding.

use std::borrow::Cow;
use std::sync::mpsc;

use custos_core::Candidate;
use wgpu::util::DeviceExt;

use crate::{
    BackendInfo, BackendKind, CropJob, CropSpec, DetectParams, FrameMaps, KernelError, Localizer,
    LumaView, Map, Tensor, batch::check_jobs, boxes, map::half_size, warp,
};

const WG: u32 = 16;

/// Uniform of the pyramid kernels (`Dims` in pyramid.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Dims {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    stride: u32,
    _pad: [u32; 3],
}

/// Uniform of the convolution kernel (`Conv` in conv.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    in_w: u32,
    in_h: u32,
    in_c: u32,
    out_w: u32,
    out_h: u32,
    out_c: u32,
    kernel: u32,
    stride: u32,
    dilation: u32,
    pad: u32,
    relu: u32,
    w_off: u32,
    b_off: u32,
    normalise: u32,
    subtract: f32,
    divide: f32,
}

/// Uniform of the warp kernel (`Params` in warp.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct WarpParams {
    frame_w: u32,
    frame_h: u32,
    stride: u32,
    crop_w: u32,
    crop_h: u32,
    n_jobs: u32,
    mean: f32,
    std: f32,
    margin: f32,
    _pad: [u32; 3],
}

/// One crop job (`Job` in warp.wgsl).
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct GpuJob {
    h: [f32; 8],
    meta: [u32; 4],
}

/// A float map (`channels` planes) living on the GPU.
struct GpuMap {
    buf: wgpu::Buffer,
    channels: u32,
    width: u32,
    height: u32,
}

/// A frame's luma plane uploaded as it is laid out (stride kept: no repacking on the CPU).
struct GpuFrame {
    luma: wgpu::Buffer,
    width: u32,
    height: u32,
    stride: u32,
}

/// The GPU-side maps of one frame.
struct GpuFrameMaps {
    pyramid: Vec<GpuMap>,
    heads: Vec<(u32, GpuMap)>,
}

struct Pipelines {
    down_luma: wgpu::ComputePipeline,
    down: wgpu::ComputePipeline,
    conv: wgpu::ComputePipeline,
    warp: wgpu::ComputePipeline,
}

/// The detector's weights on the GPU: every layer's weights then biases, one buffer.
struct GpuWeights {
    buf: wgpu::Buffer,
    /// Per layer: (offset of the weights, offset of the biases), in floats.
    offsets: Vec<(u32, u32)>,
}

/// Opens the best Vulkan adapter (a real GPU when there is one, else e.g. lavapipe).
pub fn request_adapter() -> Result<wgpu::Adapter, KernelError> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    pollster::block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        apply_limit_buckets: false,
    }))
    .map_err(|e| KernelError::NoAdapter(e.to_string()))
}

/// Whether the adapter is a real GPU (worth using) rather than a CPU emulation like lavapipe.
pub fn is_real_gpu(info: &wgpu::AdapterInfo) -> bool {
    matches!(
        info.device_type,
        wgpu::DeviceType::DiscreteGpu
            | wgpu::DeviceType::IntegratedGpu
            | wgpu::DeviceType::VirtualGpu
    )
}

/// Plate localisation with WGSL compute shaders.
pub struct WgpuLocalizer {
    device: wgpu::Device,
    queue: wgpu::Queue,
    pipes: Pipelines,
    weights: GpuWeights,
    params: DetectParams,
    info: BackendInfo,
    max_binding: u64,
}

fn shader(device: &wgpu::Device, label: &str, src: &'static str) -> wgpu::ShaderModule {
    device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(Cow::Borrowed(src)),
    })
}

fn upload_weights(device: &wgpu::Device, params: &DetectParams) -> GpuWeights {
    let mut all = Vec::new();
    let mut offsets = Vec::new();
    for l in &params.model.layers {
        let w = all.len() as u32;
        all.extend_from_slice(&l.weights);
        let b = all.len() as u32;
        all.extend_from_slice(&l.bias);
        offsets.push((w, b));
    }
    let buf = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("detector weights"),
        contents: bytemuck::cast_slice(&all),
        usage: wgpu::BufferUsages::STORAGE,
    });
    GpuWeights { buf, offsets }
}

fn pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    entry: &str,
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: None,
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

impl WgpuLocalizer {
    /// Opens the best adapter and builds the kernels on it.
    pub fn new(params: DetectParams) -> Result<Self, KernelError> {
        Self::with_adapter(request_adapter()?, params)
    }

    pub fn with_adapter(adapter: wgpu::Adapter, params: DetectParams) -> Result<Self, KernelError> {
        params.validate()?;
        let ainfo = adapter.get_info();
        let name = format!(
            "{} ({:?}, {:?})",
            ainfo.name, ainfo.device_type, ainfo.backend
        );
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("custos-kernels"),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: Default::default(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: Default::default(),
        }))
        .map_err(|e| KernelError::Device {
            adapter: name.clone(),
            reason: e.to_string(),
        })?;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pyr = shader(&device, "pyramid", include_str!("shaders/pyramid.wgsl"));
        let conv = shader(&device, "conv", include_str!("shaders/conv.wgsl"));
        let wrp = shader(&device, "warp", include_str!("shaders/warp.wgsl"));
        let pipes = Pipelines {
            down_luma: pipeline(&device, &pyr, "down_luma"),
            down: pipeline(&device, &pyr, "down"),
            conv: pipeline(&device, &conv, "conv"),
            warp: pipeline(&device, &wrp, "warp"),
        };
        let weights = upload_weights(&device, &params);
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(KernelError::Gpu(format!("building the kernels: {e}")));
        }
        tracing::info!(adapter = %name, "wgpu kernels ready");
        Ok(Self {
            device,
            queue,
            pipes,
            weights,
            params,
            info: BackendInfo {
                kind: BackendKind::Wgpu,
                adapter: name,
            },
            max_binding: limits
                .max_storage_buffer_binding_size
                .min(limits.max_buffer_size),
        })
    }

    fn storage(&self, what: &'static str, bytes: u64) -> Result<wgpu::Buffer, KernelError> {
        if bytes > self.max_binding {
            return Err(KernelError::BufferTooLarge {
                what,
                bytes,
                limit: self.max_binding,
            });
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(what),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }))
    }

    fn map_buffer(
        &self,
        what: &'static str,
        channels: u32,
        width: u32,
        height: u32,
    ) -> Result<GpuMap, KernelError> {
        let floats = u64::from(channels) * u64::from(width) * u64::from(height);
        let buf = self.storage(what, floats * 4)?;
        Ok(GpuMap {
            buf,
            channels,
            width,
            height,
        })
    }

    fn upload(&self, frames: &[LumaView<'_>]) -> Result<Vec<GpuFrame>, KernelError> {
        frames
            .iter()
            .map(|f| {
                let bytes = f.bytes();
                if bytes.len() as u64 > self.max_binding {
                    return Err(KernelError::BufferTooLarge {
                        what: "luma plane",
                        bytes: bytes.len() as u64,
                        limit: self.max_binding,
                    });
                }
                // create_buffer_init pads the size to the copy alignment.
                let luma = self
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("luma"),
                        contents: bytes,
                        usage: wgpu::BufferUsages::STORAGE,
                    });
                Ok(GpuFrame {
                    luma,
                    width: f.width(),
                    height: f.height(),
                    // LumaView bounds stride by the plane size, which MAX_SIDE keeps < 2^32.
                    stride: u32::try_from(f.stride()).map_err(|_| KernelError::BufferTooLarge {
                        what: "luma stride",
                        bytes: f.stride() as u64,
                        limit: u64::from(u32::MAX),
                    })?,
                })
            })
            .collect()
    }

    /// Records one compute pass: the uniform at binding 0, `buffers` at bindings 1, 2, …
    fn dispatch(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipe: &wgpu::ComputePipeline,
        uniform: &[u8],
        buffers: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) {
        let numbered: Vec<(u32, &wgpu::Buffer)> = (1u32..).zip(buffers.iter().copied()).collect();
        self.dispatch_sparse(encoder, pipe, uniform, &numbered, groups);
    }

    /// Records the pyramid and the detector's layers for one frame.
    fn record_maps(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        frame: &GpuFrame,
    ) -> Result<GpuFrameMaps, KernelError> {
        let p = &self.params;
        let groups = |w: u32, h: u32| [w.div_ceil(WG), h.div_ceil(WG), 1];
        let mut pyramid: Vec<GpuMap> = Vec::new();
        for _ in 1..=p.max_level() {
            let (src, src_size) = match pyramid.last() {
                None => (&frame.luma, (frame.width, frame.height)),
                Some(m) => (&m.buf, (m.width, m.height)),
            };
            let (w, h) = half_size(src_size.0, src_size.1);
            let dst = self.map_buffer("pyramid level", 1, w, h)?;
            let d = Dims {
                src_w: src_size.0,
                src_h: src_size.1,
                dst_w: w,
                dst_h: h,
                stride: frame.stride,
                _pad: [0; 3],
            };
            // down_luma binds the luma at 1 and dst at 3; down binds src at 2 and dst at 3. Auto
            // layouts only hold the bindings an entry point uses, so list them in that order.
            if pyramid.is_empty() {
                self.dispatch_sparse(
                    encoder,
                    &self.pipes.down_luma,
                    bytemuck::bytes_of(&d),
                    &[(1, src), (3, &dst.buf)],
                    groups(w, h),
                );
            } else {
                self.dispatch_sparse(
                    encoder,
                    &self.pipes.down,
                    bytemuck::bytes_of(&d),
                    &[(2, src), (3, &dst.buf)],
                    groups(w, h),
                );
            }
            pyramid.push(dst);
        }
        let mut heads = Vec::new();
        for &level in &p.model.levels {
            let level_map = &pyramid[level as usize - 1];
            if !p.model.searchable(level_map.width, level_map.height) {
                continue;
            }
            let mut x: Option<GpuMap> = None;
            for (i, (l, &(w_off, b_off))) in
                p.model.layers.iter().zip(&self.weights.offsets).enumerate()
            {
                let src = x.as_ref().unwrap_or(level_map);
                let (ow, oh) = (l.out_size(src.width), l.out_size(src.height));
                let dst = self.map_buffer("detector layer", l.out_channels, ow, oh)?;
                let c = ConvParams {
                    in_w: src.width,
                    in_h: src.height,
                    in_c: src.channels,
                    out_w: ow,
                    out_h: oh,
                    out_c: l.out_channels,
                    kernel: l.kernel,
                    stride: l.stride,
                    dilation: l.dilation,
                    pad: l.pad(),
                    relu: u32::from(l.relu),
                    w_off,
                    b_off,
                    normalise: u32::from(i == 0),
                    subtract: p.model.input.subtract,
                    divide: p.model.input.divide,
                };
                self.dispatch(
                    encoder,
                    &self.pipes.conv,
                    bytemuck::bytes_of(&c),
                    &[&src.buf, &self.weights.buf, &dst.buf],
                    [ow.div_ceil(8), oh.div_ceil(8), l.out_channels],
                );
                x = Some(dst);
            }
            if let Some(head) = x {
                heads.push((level, head));
            }
        }
        Ok(GpuFrameMaps { pyramid, heads })
    }

    /// Like `dispatch`, with explicit binding numbers for the storage buffers.
    fn dispatch_sparse(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        pipe: &wgpu::ComputePipeline,
        uniform: &[u8],
        buffers: &[(u32, &wgpu::Buffer)],
        groups: [u32; 3],
    ) {
        let ubuf = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("params"),
                contents: uniform,
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: ubuf.as_entire_binding(),
        }];
        for (binding, b) in buffers {
            entries.push(wgpu::BindGroupEntry {
                binding: *binding,
                resource: b.as_entire_binding(),
            });
        }
        let bind = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &pipe.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
        pass.set_pipeline(pipe);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
    }

    /// Submits the encoder after copying `maps` into one readback buffer, waits, and returns
    /// each map's floats. Validation and out-of-memory errors become `KernelError::Gpu`.
    fn submit_and_read(
        &self,
        mut encoder: wgpu::CommandEncoder,
        maps: &[&wgpu::Buffer],
    ) -> Result<Vec<Vec<f32>>, KernelError> {
        let sizes: Vec<u64> = maps.iter().map(|b| b.size()).collect();
        let total: u64 = sizes.iter().sum();
        let readback = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: total.max(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut offset = 0;
        for (b, &size) in maps.iter().zip(&sizes) {
            encoder.copy_buffer_to_buffer(b, 0, &readback, offset, size);
            offset += size;
        }
        self.queue.submit([encoder.finish()]);
        let slice = readback.slice(..);
        let (tx, rx) = mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| KernelError::Gpu(format!("waiting for the GPU: {e}")))?;
        rx.recv()
            .map_err(|_| KernelError::Gpu("readback callback never ran".into()))?
            .map_err(|e| KernelError::Gpu(format!("mapping the readback buffer: {e}")))?;
        let view = slice
            .get_mapped_range()
            .map_err(|e| KernelError::Gpu(format!("reading the readback buffer: {e}")))?;
        let floats: &[f32] = bytemuck::try_cast_slice(&view)
            .map_err(|e| KernelError::Gpu(format!("readback is not f32: {e}")))?;
        let mut out = Vec::with_capacity(maps.len());
        let mut at = 0usize;
        for size in sizes {
            let n = (size / 4) as usize;
            out.push(floats[at..at + n].to_vec());
            at += n;
        }
        drop(view);
        readback.unmap();
        Ok(out)
    }

    /// Runs `f` inside validation and out-of-memory error scopes, so GPU errors come back as
    /// `KernelError` instead of wgpu's default panic.
    fn scoped<T>(&self, f: impl FnOnce() -> Result<T, KernelError>) -> Result<T, KernelError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let result = f();
        let val = pollster::block_on(val.pop());
        let oom = pollster::block_on(oom.pop());
        if let Some(e) = val.or(oom) {
            return Err(KernelError::Gpu(e.to_string()));
        }
        result
    }

    fn run_maps(&self, frames: &[GpuFrame], all: bool) -> Result<Vec<FrameMaps>, KernelError> {
        let mut encoder = self.device.create_command_encoder(&Default::default());
        let gpu: Vec<GpuFrameMaps> = frames
            .iter()
            .map(|f| self.record_maps(&mut encoder, f))
            .collect::<Result<_, _>>()?;
        let mut wanted: Vec<&wgpu::Buffer> = Vec::new();
        for g in &gpu {
            if all {
                wanted.extend(g.pyramid.iter().map(|m| &m.buf));
            }
            wanted.extend(g.heads.iter().map(|(_, m)| &m.buf));
        }
        let mut data = self.submit_and_read(encoder, &wanted)?.into_iter();
        let mut take = |m: &GpuMap| {
            let mut d = data.next().unwrap_or_default();
            d.truncate(m.channels as usize * m.width as usize * m.height as usize);
            Tensor {
                channels: m.channels,
                width: m.width,
                height: m.height,
                data: d,
            }
        };
        Ok(gpu
            .iter()
            .map(|g| {
                let pyramid = if all {
                    g.pyramid
                        .iter()
                        .map(|m| {
                            let t = take(m);
                            Map {
                                width: t.width,
                                height: t.height,
                                data: t.data,
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let heads = g.heads.iter().map(|(l, m)| (*l, take(m))).collect();
                FrameMaps { pyramid, heads }
            })
            .collect())
    }

    fn run_localize(&self, frames: &[GpuFrame]) -> Result<Vec<Vec<Candidate>>, KernelError> {
        let maps = self.run_maps(frames, false)?;
        Ok(maps
            .iter()
            .zip(frames)
            .map(|(m, f)| boxes::decode(&m.head_refs(), f.width, f.height, &self.params))
            .collect())
    }

    fn run_crop(
        &self,
        frames: &[GpuFrame],
        jobs: &[CropJob],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        check_jobs(jobs, frames.len(), spec, out.len())?;
        if jobs.is_empty() {
            return Ok(());
        }
        let n = spec.floats_per_crop();
        let slots = jobs.iter().map(|j| j.slot + 1).max().unwrap_or(0);
        let batch = self.storage("crop batch", (slots * n * 4) as u64)?;
        let mut encoder = self.device.create_command_encoder(&Default::default());
        for (fi, frame) in frames.iter().enumerate() {
            let mine: Vec<GpuJob> = jobs
                .iter()
                .filter(|j| j.frame == fi)
                .map(|j| {
                    let h = warp::square_to_quad(&j.candidate.quad);
                    GpuJob {
                        h: h.unwrap_or_default(),
                        meta: [j.slot as u32, u32::from(h.is_some()), 0, 0],
                    }
                })
                .collect();
            // The z dimension of a dispatch is limited; split long job lists.
            for chunk in mine.chunks(65535) {
                let jbuf = self
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("crop jobs"),
                        contents: bytemuck::cast_slice(chunk),
                        usage: wgpu::BufferUsages::STORAGE,
                    });
                let params = WarpParams {
                    frame_w: frame.width,
                    frame_h: frame.height,
                    stride: frame.stride,
                    crop_w: spec.width,
                    crop_h: spec.height,
                    n_jobs: chunk.len() as u32,
                    mean: spec.mean,
                    std: spec.std,
                    margin: spec.margin,
                    _pad: [0; 3],
                };
                self.dispatch(
                    &mut encoder,
                    &self.pipes.warp,
                    bytemuck::bytes_of(&params),
                    &[&frame.luma, &jbuf, &batch],
                    [
                        spec.width.div_ceil(WG),
                        spec.height.div_ceil(WG),
                        chunk.len() as u32,
                    ],
                );
            }
        }
        let data = self.submit_and_read(encoder, &[&batch])?;
        let data = data.first().map(Vec::as_slice).unwrap_or_default();
        for j in jobs {
            let r = j.slot * n..(j.slot + 1) * n;
            if let Some(src) = data.get(r.clone()) {
                out[r].copy_from_slice(src);
            }
        }
        Ok(())
    }
}

impl Localizer for WgpuLocalizer {
    fn info(&self) -> &BackendInfo {
        &self.info
    }

    fn params(&self) -> &DetectParams {
        &self.params
    }

    fn maps(&mut self, frames: &[LumaView<'_>]) -> Result<Vec<FrameMaps>, KernelError> {
        self.scoped(|| {
            let gpu = self.upload(frames)?;
            self.run_maps(&gpu, true)
        })
    }

    fn localize(&mut self, frames: &[LumaView<'_>]) -> Result<Vec<Vec<Candidate>>, KernelError> {
        self.scoped(|| {
            let gpu = self.upload(frames)?;
            self.run_localize(&gpu)
        })
    }

    fn crop(
        &mut self,
        frames: &[LumaView<'_>],
        jobs: &[CropJob],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<(), KernelError> {
        self.scoped(|| {
            let gpu = self.upload(frames)?;
            self.run_crop(&gpu, jobs, spec, out)
        })
    }

    fn process(
        &mut self,
        frames: &[LumaView<'_>],
        spec: &CropSpec,
        out: &mut [f32],
    ) -> Result<crate::BatchOutput, KernelError> {
        spec.validate()?;
        // Upload once for both submissions.
        self.scoped(|| {
            let gpu = self.upload(frames)?;
            let candidates = self.run_localize(&gpu)?;
            let (crops, dropped) =
                crate::batch::assign_slots(&candidates, spec.capacity(out.len()));
            self.run_crop(&gpu, &crops, spec, out)?;
            Ok(crate::BatchOutput {
                candidates,
                crops,
                dropped,
            })
        })
    }
}
