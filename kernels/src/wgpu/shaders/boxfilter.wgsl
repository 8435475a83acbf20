// Mean over 2·radius + 1 pixels along a row (box_h) or a column (box_v): edge density.

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(16, 16)
fn box_h(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= d.dst_w || id.y >= d.dst_h) {
        return;
    }
    var s = 0.0;
    for (var k = -d.radius; k <= d.radius; k++) {
        s += src[clamped_index(i32(id.x) + k, i32(id.y))];
    }
    dst[id.y * d.dst_w + id.x] = s / f32(2 * d.radius + 1);
}

@compute @workgroup_size(16, 16)
fn box_v(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= d.dst_w || id.y >= d.dst_h) {
        return;
    }
    var s = 0.0;
    for (var k = -d.radius; k <= d.radius; k++) {
        s += src[clamped_index(i32(id.x), i32(id.y) + k)];
    }
    dst[id.y * d.dst_w + id.x] = s / f32(2 * d.radius + 1);
}
