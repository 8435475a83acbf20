use std::path::PathBuf;

/// A problem in the cameras' configuration; each names the camera and field it is about.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("camera {camera:?}: `{field}` {problem}")]
    Camera {
        camera: String,
        field: &'static str,
        problem: String,
    },
    #[error("[ingest] `{field}` {problem}")]
    Ingest {
        field: &'static str,
        problem: String,
    },
    #[error("cannot read secret file {path}: {source}")]
    SecretFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("environment variable {name} holding a secret is not set")]
    SecretEnv { name: String },
}

/// Errors from the ingest as a whole (per-camera faults are reported in the camera's status,
/// never as errors: one camera must not stop another).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error("cannot start the thread for camera {camera}: {source}")]
    Thread {
        camera: String,
        #[source]
        source: std::io::Error,
    },
}
