//! Plate localisation and crop kernels: a `Localizer` trait with wgpu (WGSL) and native CPU
//! backends that find plate candidates in a frame and cut, straighten and normalise each into the
//! OCR batch. Built by the kernels issue; this crate is the place the layout reserves for it.
