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

/// Why a camera URL is refused (the message reads after "`url` …").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all (the text is shown with any credentials redacted).
    #[error("{url:?} is not a URL: {reason}")]
    NotAUrl {
        /// The text, credentials redacted.
        url: String,
        /// What the URL parser said.
        reason: String,
    },
    /// Not `rtsp://`, `rtsps://` or `rtspt://` (the scheme found).
    #[error("scheme is {0:?}; expected rtsp://, rtsps:// or rtspt://")]
    Scheme(String),
    /// No host to connect to.
    #[error("has no host")]
    NoHost,
    /// `user:password@` inline, which would end up in config backups and logs.
    #[error(
        "contains credentials; put the user in `username` and the password in `password = {{ file = \"…\" }}` or `{{ env = \"…\" }}`"
    )]
    Credentials,
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
