// One convolution of the plate detector (zero padding), one output value per invocation. The
// sum runs bias, then input channel, tap row, tap column — the native backend's order — so the
// two agree to float rounding.

struct Conv {
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
    // Where this layer's weights and biases start in `weights`.
    w_off: u32,
    b_off: u32,
    // First layer only: map grey levels to (v - subtract) / divide as they are read.
    normalise: u32,
    subtract: f32,
    divide: f32,
}

@group(0) @binding(0) var<uniform> c: Conv;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn conv(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= c.out_w || id.y >= c.out_h || id.z >= c.out_c) {
        return;
    }
    let oc = id.z;
    var acc = weights[c.b_off + oc];
    for (var ic = 0u; ic < c.in_c; ic++) {
        for (var ky = 0u; ky < c.kernel; ky++) {
            let iy = i32(id.y * c.stride + ky * c.dilation) - i32(c.pad);
            if (iy < 0 || iy >= i32(c.in_h)) {
                continue;
            }
            for (var kx = 0u; kx < c.kernel; kx++) {
                let ix = i32(id.x * c.stride + kx * c.dilation) - i32(c.pad);
                if (ix < 0 || ix >= i32(c.in_w)) {
                    continue;
                }
                var v = src[(ic * c.in_h + u32(iy)) * c.in_w + u32(ix)];
                if (c.normalise != 0u) {
                    v = (v - c.subtract) / c.divide;
                }
                acc += weights[c.w_off + ((oc * c.in_c + ic) * c.kernel + ky) * c.kernel + kx] * v;
            }
        }
    }
    if (c.relu != 0u) {
        acc = max(acc, 0.0);
    }
    dst[(oc * c.out_h + id.y) * c.out_w + id.x] = acc;
}
