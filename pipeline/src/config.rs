//! Camera configuration as the agency writes it (one `[[cameras]]` table each in custos.toml),
//! and its validation. Secrets are never inline: a password is read from a file or an
//! environment variable when the camera connects.

use std::path::PathBuf;
use std::time::Duration;

use custos_core::CameraId;
use serde::Deserialize;
use url::Url;

use crate::error::{ConfigError, UrlError};

/// RTSP lower transport. TCP (RTP interleaved in the RTSP connection) crosses NAT and firewalls
/// and loses nothing; some servers (VLC among them) only offer UDP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[default]
    Tcp,
    Udp,
    /// Let rtspsrc try UDP, then TCP.
    Auto,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Auto => "auto",
        })
    }
}

/// Where a secret comes from. Exactly one of the two.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum SecretRef {
    /// A file holding the secret (trailing newline ignored); keep it mode 0600.
    File(PathBuf),
    /// An environment variable holding the secret.
    Env(String),
}

impl SecretRef {
    pub fn resolve(&self) -> Result<String, ConfigError> {
        match self {
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|source| ConfigError::SecretFile {
                    path: path.clone(),
                    source,
                }),
            SecretRef::Env(name) => {
                std::env::var(name).map_err(|_| ConfigError::SecretEnv { name: name.clone() })
            }
        }
    }
}

/// Defaults that every camera inherits unless it sets its own value.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestDefaults {
    /// Frames per second handed to analysis; the rest are decoded (H.264 needs it) and counted
    /// as skipped.
    pub analysis_fps: f64,
    pub transport: Transport,
    /// rtspsrc jitter-buffer latency.
    pub latency_ms: u32,
    /// No frame for this long means the camera is stalled: tear down and reconnect.
    pub stall_timeout_ms: u64,
    /// First reconnect delay; doubles on each failure up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Hand chroma planes to analysis too (the kernels need only luma).
    pub chroma: bool,
}

impl Default for IngestDefaults {
    fn default() -> Self {
        Self {
            analysis_fps: 8.0,
            transport: Transport::Tcp,
            latency_ms: 200,
            stall_timeout_ms: 5_000,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            chroma: false,
        }
    }
}

/// One camera as written in the config file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub id: CameraId,
    #[serde(default)]
    pub name: Option<String>,
    /// `rtsp://host[:port]/path` without credentials.
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<SecretRef>,
    #[serde(default = "enabled_default")]
    pub enabled: bool,
    #[serde(default)]
    pub analysis_fps: Option<f64>,
    #[serde(default)]
    pub transport: Option<Transport>,
    #[serde(default)]
    pub latency_ms: Option<u32>,
    #[serde(default)]
    pub stall_timeout_ms: Option<u64>,
    /// Region of interest in frame pixels: a polygon of at least 3 `[x, y]` points.
    #[serde(default)]
    pub roi: Option<Vec<[f64; 2]>>,
}

fn enabled_default() -> bool {
    true
}

/// A camera with every default applied and every field checked: what the ingest runs on.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraSettings {
    pub id: CameraId,
    pub name: String,
    pub url: Url,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub enabled: bool,
    pub analysis_fps: f64,
    pub transport: Transport,
    pub latency_ms: u32,
    pub stall_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub chroma: bool,
    pub roi: Option<Vec<[f64; 2]>>,
}

impl CameraSettings {
    /// Builds settings for a camera with all defaults, e.g. for the built-in test cameras.
    pub fn with_defaults(id: CameraId, url: Url) -> Self {
        let d = IngestDefaults::default();
        Self {
            name: id.to_string(),
            id,
            url,
            username: None,
            password: None,
            enabled: true,
            analysis_fps: d.analysis_fps,
            transport: d.transport,
            latency_ms: d.latency_ms,
            stall_timeout: Duration::from_millis(d.stall_timeout_ms),
            backoff_initial: Duration::from_millis(d.backoff_initial_ms),
            backoff_max: Duration::from_millis(d.backoff_max_ms),
            chroma: d.chroma,
            roi: None,
        }
    }

    /// The URL with any credentials removed: safe for logs and status.
    pub fn display_url(&self) -> String {
        redact_url(self.url.as_str())
    }
}

fn field_error(camera: &str, field: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError::Camera {
        camera: camera.to_owned(),
        field,
        problem: problem.into(),
    }
}

/// Applies defaults and checks every camera; errors name the camera and the field.
pub fn validate_cameras(
    defaults: &IngestDefaults,
    cameras: &[CameraConfig],
) -> Result<Vec<CameraSettings>, ConfigError> {
    check_defaults(defaults)?;
    let mut seen = std::collections::HashSet::new();
    cameras
        .iter()
        .map(|cam| {
            let id = cam.id.as_str();
            if !seen.insert(cam.id.clone()) {
                return Err(field_error(id, "id", "is used by another camera too"));
            }
            let url =
                parse_rtsp_url(&cam.url).map_err(|p| field_error(id, "url", p.to_string()))?;
            if cam.password.is_some() && cam.username.is_none() {
                return Err(field_error(id, "password", "is set but `username` is not"));
            }
            let analysis_fps = cam.analysis_fps.unwrap_or(defaults.analysis_fps);
            check_fps(analysis_fps).map_err(|p| field_error(id, "analysis_fps", p))?;
            let stall_ms = cam.stall_timeout_ms.unwrap_or(defaults.stall_timeout_ms);
            check_stall(stall_ms).map_err(|p| field_error(id, "stall_timeout_ms", p))?;
            let latency_ms = cam.latency_ms.unwrap_or(defaults.latency_ms);
            check_latency(latency_ms).map_err(|p| field_error(id, "latency_ms", p))?;
            if let Some(roi) = &cam.roi {
                check_roi(roi).map_err(|p| field_error(id, "roi", p))?;
            }
            Ok(CameraSettings {
                id: cam.id.clone(),
                name: cam.name.clone().unwrap_or_else(|| id.to_owned()),
                url,
                username: cam.username.clone(),
                password: cam.password.clone(),
                enabled: cam.enabled,
                analysis_fps,
                transport: cam.transport.unwrap_or(defaults.transport),
                latency_ms,
                stall_timeout: Duration::from_millis(stall_ms),
                backoff_initial: Duration::from_millis(defaults.backoff_initial_ms),
                backoff_max: Duration::from_millis(defaults.backoff_max_ms),
                chroma: defaults.chroma,
                roi: cam.roi.clone(),
            })
        })
        .collect()
}

fn check_defaults(d: &IngestDefaults) -> Result<(), ConfigError> {
    let err = |field: &'static str, problem: String| ConfigError::Ingest { field, problem };
    check_fps(d.analysis_fps).map_err(|p| err("analysis_fps", p))?;
    check_stall(d.stall_timeout_ms).map_err(|p| err("stall_timeout_ms", p))?;
    check_latency(d.latency_ms).map_err(|p| err("latency_ms", p))?;
    if d.backoff_initial_ms == 0 {
        return Err(err("backoff_initial_ms", "must be at least 1".into()));
    }
    if d.backoff_max_ms < d.backoff_initial_ms {
        return Err(err(
            "backoff_max_ms",
            "must not be below backoff_initial_ms".into(),
        ));
    }
    Ok(())
}

fn check_fps(fps: f64) -> Result<(), String> {
    if fps.is_finite() && fps > 0.0 && fps <= 120.0 {
        Ok(())
    } else {
        Err(format!("is {fps}; it must be above 0 and at most 120"))
    }
}

fn check_stall(ms: u64) -> Result<(), String> {
    if (500..=600_000).contains(&ms) {
        Ok(())
    } else {
        Err(format!("is {ms}; it must be between 500 and 600000 ms"))
    }
}

fn check_latency(ms: u32) -> Result<(), String> {
    if ms <= 10_000 {
        Ok(())
    } else {
        Err(format!("is {ms}; it must be at most 10000 ms"))
    }
}

fn check_roi(roi: &[[f64; 2]]) -> Result<(), String> {
    if roi.len() < 3 {
        return Err(format!(
            "has {} points; a polygon needs at least 3",
            roi.len()
        ));
    }
    if let Some((i, p)) = roi
        .iter()
        .enumerate()
        .find(|(_, p)| !(p[0].is_finite() && p[1].is_finite()) || p[0] < 0.0 || p[1] < 0.0)
    {
        return Err(format!(
            "point {} ({}, {}) is not a non-negative pixel position",
            i + 1,
            p[0],
            p[1]
        ));
    }
    Ok(())
}

/// Parses an `rtsp://` or `rtsps://` URL and refuses inline credentials, which would end up in
/// config backups and logs.
pub fn parse_rtsp_url(raw: &str) -> Result<Url, UrlError> {
    let url = Url::parse(raw).map_err(|e| UrlError::NotAUrl {
        url: redact_url(raw),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "rtsp" | "rtsps" | "rtspt") {
        return Err(UrlError::Scheme(url.scheme().to_owned()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlError::NoHost);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlError::Credentials);
    }
    Ok(url)
}

/// Removes `user:password@` from anything that looks like a URL inside `text`, so error
/// messages from GStreamer and others can be logged and shown.
pub fn redact_url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // The authority ends at the first '/', whitespace or quote; credentials end at its last '@'.
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '"' || c == '\'' || c == '>')
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                out.push_str("***@");
                out.push_str(&authority[at + 1..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        ingest: IngestDefaults,
        cameras: Vec<CameraConfig>,
    }

    fn load(text: &str) -> Result<Vec<CameraSettings>, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        validate_cameras(&file.ingest, &file.cameras).map_err(|e| e.to_string())
    }

    #[test]
    fn applies_defaults_and_overrides() {
        let cams = load(
            r#"
            [ingest]
            analysis_fps = 5
            [[cameras]]
            id = "a"
            url = "rtsp://127.0.0.1:8554/cam0"
            [[cameras]]
            id = "b"
            name = "Bridge"
            url = "rtsp://cam.example/stream"
            username = "viewer"
            password = { env = "CUSTOS_TEST_PW" }
            transport = "udp"
            analysis_fps = 2.5
            roi = [[0, 0], [100, 0], [100, 50]]
            "#,
        )
        .unwrap();
        assert_eq!(cams[0].analysis_fps, 5.0);
        assert_eq!(cams[0].transport, Transport::Tcp);
        assert_eq!(cams[0].name, "a");
        assert_eq!(cams[1].analysis_fps, 2.5);
        assert_eq!(cams[1].transport, Transport::Udp);
        assert_eq!(
            cams[1].password,
            Some(SecretRef::Env("CUSTOS_TEST_PW".into()))
        );
    }

    #[test]
    fn errors_name_camera_and_field() {
        let err = load("[[cameras]]\nid = \"gate\"\nurl = \"http://x/y\"\n").unwrap_err();
        assert!(
            err.contains("gate") && err.contains("url") && err.contains("scheme"),
            "{err}"
        );

        let err = load("[[cameras]]\nid = \"gate\"\nurl = \"rtsp://u:secret@x/y\"\n").unwrap_err();
        assert!(
            err.contains("credentials") && !err.contains("secret"),
            "{err}"
        );

        let err =
            load("[[cameras]]\nid = \"g\"\nurl = \"rtsp://x/y\"\nanalysis_fps = 0\n").unwrap_err();
        assert!(err.contains("analysis_fps"), "{err}");

        let err =
            load("[[cameras]]\nid = \"g\"\nurl = \"rtsp://x/y\"\nroi = [[1, 2]]\n").unwrap_err();
        assert!(err.contains("roi") && err.contains("3"), "{err}");

        let err = load(
            "[[cameras]]\nid = \"g\"\nurl = \"rtsp://x/y\"\n[[cameras]]\nid = \"g\"\nurl = \"rtsp://x/z\"\n",
        )
        .unwrap_err();
        assert!(err.contains("another camera"), "{err}");
    }

    #[test]
    fn unknown_keys_are_refused_with_line() {
        let err = load("[[cameras]]\nid = \"g\"\nurl = \"rtsp://x/y\"\nfps = 3\n").unwrap_err();
        assert!(
            err.contains("unknown field `fps`") && err.contains("line 4"),
            "{err}"
        );
        let err = load("[[cameras]]\nid = \"bad id\"\nurl = \"rtsp://x/y\"\n").unwrap_err();
        assert!(err.contains("bad id") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn secrets_resolve_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "hunter2\n").unwrap();
        assert_eq!(SecretRef::File(path).resolve().unwrap(), "hunter2");
        let missing = SecretRef::Env("CUSTOS_SURELY_UNSET_VAR".into())
            .resolve()
            .unwrap_err();
        assert!(missing.to_string().contains("CUSTOS_SURELY_UNSET_VAR"));
        let missing = SecretRef::File(dir.path().join("nope"))
            .resolve()
            .unwrap_err();
        assert!(missing.to_string().contains("nope"));
    }

    #[test]
    fn redacts_credentials_anywhere_in_text() {
        assert_eq!(
            redact_url("could not open rtsp://admin:pa@ss@10.0.0.1:554/live and rtsp://h/x"),
            "could not open rtsp://***@10.0.0.1:554/live and rtsp://h/x"
        );
        assert_eq!(redact_url("no url here"), "no url here");
        assert_eq!(redact_url("rtsp://user@host"), "rtsp://***@host");
    }
}
