// Shared by the map kernels: sizes of the source and destination and one kernel parameter.
// Borders repeat the edge pixel, exactly as the native backend's `at_clamped`.
struct Dims {
    src_w: u32,
    src_h: u32,
    dst_w: u32,
    dst_h: u32,
    // Luma row stride in bytes (pyramid level 1 only).
    stride: u32,
    radius: i32,
    clip: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> d: Dims;

fn clamped_index(x: i32, y: i32) -> u32 {
    let cx = u32(clamp(x, 0, i32(d.src_w) - 1));
    let cy = u32(clamp(y, 0, i32(d.src_h) - 1));
    return cy * d.src_w + cx;
}
