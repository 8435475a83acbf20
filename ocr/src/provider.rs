//! Execution providers, in the order the config prefers them.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// NVIDIA TensorRT: fastest on NVIDIA GPUs; builds an engine per model and caches it.
    #[serde(rename = "tensorrt")]
    TensorRt,
    Cuda,
    Cpu,
}

/// TensorRT, then CUDA, then the CPU.
pub const DEFAULT_PROVIDERS: [Provider; 3] = [Provider::TensorRt, Provider::Cuda, Provider::Cpu];

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::TensorRt => "tensorrt",
            Provider::Cuda => "cuda",
            Provider::Cpu => "cpu",
        })
    }
}
