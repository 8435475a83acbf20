// Horizontal Sobel magnitude in grey levels per pixel, clipped at d.clip.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

fn column(x: i32, y: i32) -> f32 {
    return src[clamped_index(x, y - 1)] + 2.0 * src[clamped_index(x, y)] + src[clamped_index(x, y + 1)];
}

@compute @workgroup_size(16, 16)
fn gradient(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= d.dst_w || id.y >= d.dst_h) {
        return;
    }
    let x = i32(id.x);
    let y = i32(id.y);
    dst[id.y * d.dst_w + id.x] = min(abs((column(x + 1, y) - column(x - 1, y)) * 0.125), d.clip);
}
