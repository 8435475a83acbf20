//! Choosing a backend: a real GPU runs the WGSL kernels; with only a CPU adapter (lavapipe) or
//! none, the native backend is faster, so `auto` picks it.

use std::fmt;
use std::str::FromStr;

use crate::{DetectParams, KernelError, Localizer, NativeLocalizer, WgpuLocalizer, wgpu_backend};

/// Which backend a caller asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendChoice {
    /// wgpu on a real GPU adapter, otherwise native.
    #[default]
    Auto,
    Native,
    Wgpu,
}

impl FromStr for BackendChoice {
    type Err = KernelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "native" => Ok(Self::Native),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(KernelError::UnknownBackend(other.to_string())),
        }
    }
}

/// Which backend is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Native,
    Wgpu,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Wgpu => "wgpu",
        })
    }
}

/// The running backend and the adapter it runs on, for logs and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendInfo {
    pub kind: BackendKind,
    pub adapter: String,
}

impl fmt::Display for BackendInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.kind, self.adapter)
    }
}

/// Opens the backend `choice` asks for. `threads` sizes the native backend's pool (`None`: one
/// per core). `Wgpu` fails with `NoAdapter` rather than falling back, so a misconfigured GPU
/// machine is noticed.
pub fn open(
    choice: BackendChoice,
    params: DetectParams,
    threads: Option<usize>,
) -> Result<Box<dyn Localizer>, KernelError> {
    let loc: Box<dyn Localizer> = match choice {
        BackendChoice::Native => Box::new(NativeLocalizer::new(params, threads)?),
        BackendChoice::Wgpu => Box::new(WgpuLocalizer::new(params)?),
        BackendChoice::Auto => match wgpu_backend::request_adapter() {
            Ok(adapter) if wgpu_backend::is_real_gpu(&adapter.get_info()) => {
                Box::new(WgpuLocalizer::with_adapter(adapter, params)?)
            }
            Ok(adapter) => {
                let a = adapter.get_info();
                tracing::info!(adapter = %a.name, kind = ?a.device_type, "not a real GPU: using the native backend");
                Box::new(NativeLocalizer::new(params, threads)?)
            }
            Err(e) => {
                tracing::info!(error = %e, "no GPU adapter: using the native backend");
                Box::new(NativeLocalizer::new(params, threads)?)
            }
        },
    };
    tracing::info!(backend = %loc.info(), "kernels backend chosen");
    Ok(loc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices() {
        assert_eq!(
            "auto".parse::<BackendChoice>().unwrap(),
            BackendChoice::Auto
        );
        assert_eq!(
            "wgpu".parse::<BackendChoice>().unwrap(),
            BackendChoice::Wgpu
        );
        assert!(matches!(
            "cuda".parse::<BackendChoice>(),
            Err(KernelError::UnknownBackend(_))
        ));
    }
}
