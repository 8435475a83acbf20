//! The library half of the `custos` package: the parts of the wiring that tests and benchmarks
//! drive directly as components (the analysis engine). The binary (`src/main.rs`) keeps
//! the CLI and the config file.

/// The allocator of the appliance and of everything that links this library (the binary, the
/// benchmarks, the tests), so that what is measured is what ships. Ingest allocates small
/// records by the million; glibc's allocator spent a fifth of the store's ingest time in
/// `malloc`/`free` and their consolidation, mimalloc a third of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod analysis;
