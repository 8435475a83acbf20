// Downscale by two: the mean of each 2×2 block, from the luma bytes or from a float level.

// Sizes of the source and destination.
// Borders repeat the edge pixel, exactly as the native backend's `at_clamped`.
struct Dims {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    // Luma row stride in bytes (pyramid level 1 only).
    stride: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> d: Dims;

fn clamped_index(x: i32, y: i32) -> u32 {
    let cx = u32(clamp(x, 0, i32(d.src_w) - 1));
    let cy = u32(clamp(y, 0, i32(d.src_h) - 1));
    return cy * d.src_w + cx;
}

@group(0) @binding(1) var<storage, read> src_luma: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

// Luma is uploaded as bytes; storage buffers hold 32-bit words, so unpack the byte
// (little-endian, as the bytes were copied).
fn luma_at(x: i32, y: i32) -> f32 {
    let cx = u32(clamp(x, 0, i32(d.src_w) - 1));
    let cy = u32(clamp(y, 0, i32(d.src_h) - 1));
    let i = cy * d.stride + cx;
    return f32((src_luma[i >> 2u] >> ((i & 3u) * 8u)) & 0xffu);
}

@compute @workgroup_size(16, 16)
fn down_luma(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= d.dst_w || id.y >= d.dst_h) {
        return;
    }
    let x = i32(id.x) * 2;
    let y = i32(id.y) * 2;
    dst[id.y * d.dst_w + id.x] =
        ((luma_at(x, y) + luma_at(x + 1, y)) + (luma_at(x, y + 1) + luma_at(x + 1, y + 1))) * 0.25;
}

@compute @workgroup_size(16, 16)
fn down(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= d.dst_w || id.y >= d.dst_h) {
        return;
    }
    let x = i32(id.x) * 2;
    let y = i32(id.y) * 2;
    dst[id.y * d.dst_w + id.x] =
        ((src[clamped_index(x, y)] + src[clamped_index(x + 1, y)])
            + (src[clamped_index(x, y + 1)] + src[clamped_index(x + 1, y + 1)])) * 0.25;
}
