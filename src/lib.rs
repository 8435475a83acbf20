//! The library half of the `custos` package: the parts of the wiring that tests and benchmarks
//! drive directly as components (the analysis engine, the test cameras' picture sizes). The binary (`src/main.rs`) keeps
//! the CLI and the config file.

pub mod analysis;
mod resolution;

pub use resolution::Resolution;
