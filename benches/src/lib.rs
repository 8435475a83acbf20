//! Helpers shared by the benchmark binaries.

// Linked for its global allocator even where a benchmark uses nothing else of it: every
// benchmark measures with the allocator the appliance ships with.
extern crate custos;

pub mod synth;
