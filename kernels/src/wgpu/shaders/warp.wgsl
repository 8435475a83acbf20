// Crop + perspective warp + resize + normalise: one invocation per output pixel, one z-slice per
// crop job. The homography (unit square → quad in frame pixels) is solved on the CPU.

struct Params {
    frame_w: u32,
    frame_h: u32,
    stride: u32,
    crop_w: u32,
    crop_h: u32,
    n_jobs: u32,
    mean: f32,
    std_dev: f32,
    margin: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

struct Job {
    // a b c d
    h0: vec4<f32>,
    // e f g h
    h1: vec4<f32>,
    // x: batch slot, y: 1 when the quad has a homography
    info: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> luma: array<u32>;
@group(0) @binding(2) var<storage, read> jobs: array<Job>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn luma_at(x: i32, y: i32) -> f32 {
    let cx = u32(clamp(x, 0, i32(p.frame_w) - 1));
    let cy = u32(clamp(y, 0, i32(p.frame_h) - 1));
    let i = cy * p.stride + cx;
    return f32((luma[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

// Bilinear, pixel centres at +0.5, edges repeated; as `warp::sample`.
fn sample(x: f32, y: f32) -> f32 {
    let px = x - 0.5;
    let py = y - 0.5;
    let fx0 = floor(px);
    let fy0 = floor(py);
    let tx = px - fx0;
    let ty = py - fy0;
    let x0 = i32(clamp(fx0, -1.0, f32(p.frame_w)));
    let y0 = i32(clamp(fy0, -1.0, f32(p.frame_h)));
    let p00 = luma_at(x0, y0);
    let p10 = luma_at(x0 + 1, y0);
    let p01 = luma_at(x0, y0 + 1);
    let p11 = luma_at(x0 + 1, y0 + 1);
    let top = p00 + (p10 - p00) * tx;
    let bottom = p01 + (p11 - p01) * tx;
    return top + (bottom - top) * ty;
}

@compute @workgroup_size(16, 16)
fn warp(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.crop_w || id.y >= p.crop_h || id.z >= p.n_jobs) {
        return;
    }
    let job = jobs[id.z];
    var v = 0.0;
    if (job.info.y == 1u) {
        let u = (f32(id.x) + 0.5) / f32(p.crop_w) * (1.0 + 2.0 * p.margin) - p.margin;
        let w = (f32(id.y) + 0.5) / f32(p.crop_h) * (1.0 + 2.0 * p.margin) - p.margin;
        let den = job.h1.z * u + job.h1.w * w + 1.0;
        let x = (job.h0.x * u + job.h0.y * w + job.h0.z) / den;
        let y = (job.h0.w * u + job.h1.x * w + job.h1.y) / den;
        v = sample(x, y);
    }
    out[job.info.x * p.crop_w * p.crop_h + id.y * p.crop_w + id.x] = (v / 255.0 - p.mean) / p.std_dev;
}
