//! Helpers shared by the benchmark binaries.
//!
//! Owns: generated workloads and helpers for the benchmark binaries. May not touch: the product's
//! behaviour; benchmarks only drive the crates' public APIs.

/// Every benchmark binary sets this as its global allocator (`benches::allocator!()`), the one
/// the appliance ships with, so that what is measured is what ships.
#[macro_export]
macro_rules! allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
    };
}

pub mod synth;
