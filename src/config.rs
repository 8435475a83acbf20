//! The appliance's config file (TOML). Every key is documented in docs/config.md.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use custos_pipeline::{CameraConfig, CameraSettings, IngestDefaults};
use serde::Deserialize;

/// Where agency data lives unless `[store] data_dir` or `--data-dir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/custos";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub ingest: IngestDefaults,
    #[serde(default)]
    pub cameras: Vec<CameraConfig>,
    #[serde(default)]
    pub ocr: custos_ocr::OcrConfig,
    #[serde(default)]
    pub analysis: custos_analysis::AnalysisConfig,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub grpc: GrpcConfig,
    /// `[hotlist_match]`: how far a read may differ from a hotlist entry and still hit.
    #[serde(default)]
    pub hotlist_match: custos_track::MatchConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// `[metrics]`: Prometheus `/metrics` and `/healthz` of `custos serve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub enabled: bool,
    /// Loopback by default: the counters name cameras, which is not for every network.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// `[store]`: where agency data lives.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// redb page cache per agency, MiB.
    pub cache_mb: usize,
    /// How often retention runs (purge, crypto-shredding); 0 turns the schedule off.
    pub purge_interval_minutes: u64,
    /// The agency whose store receives the cameras' reads. None: the only agency under
    /// `data_dir` (an error if there are several and cameras are configured).
    pub agency: Option<String>,
    /// Most reads per store commit.
    pub write_batch: usize,
    /// A batch is committed at the latest this long after its first read arrived.
    pub write_batch_ms: u64,
    /// JPEG quality of the stored plate crop, 1-100; 0 stores no crop.
    pub crop_jpeg_quality: u8,
    /// How often the store writer re-reads the hotlists (for expiries and changes made outside
    /// the gRPC API; API changes reach it at once).
    pub hotlist_refresh_ms: u64,
}

impl StoreConfig {
    /// The store writer's settings, range-checked.
    pub fn writer(
        &self,
        matching: &custos_track::MatchConfig,
    ) -> Result<custos_analysis::writer::WriterConfig> {
        if !(1..=10_000).contains(&self.write_batch) {
            anyhow::bail!(
                "[store] write_batch = {} is outside 1..=10000",
                self.write_batch
            );
        }
        if self.write_batch_ms > 10_000 {
            anyhow::bail!(
                "[store] write_batch_ms = {} is above 10000",
                self.write_batch_ms
            );
        }
        if self.crop_jpeg_quality > 100 {
            anyhow::bail!(
                "[store] crop_jpeg_quality = {} is above 100",
                self.crop_jpeg_quality
            );
        }
        if !(100..=3_600_000).contains(&self.hotlist_refresh_ms) {
            anyhow::bail!(
                "[store] hotlist_refresh_ms = {} is outside 100..=3600000",
                self.hotlist_refresh_ms
            );
        }
        // Build once here so that a bad [hotlist_match] is reported at start, not on the
        // first refresh.
        custos_track::Matcher::new(Vec::new(), matching.clone())
            .map_err(|e| anyhow::anyhow!("[hotlist_match] {e}"))?;
        Ok(custos_analysis::writer::WriterConfig {
            batch: self.write_batch,
            batch_wait: Duration::from_millis(self.write_batch_ms),
            hotlist_refresh: Duration::from_millis(self.hotlist_refresh_ms),
            crop_quality: (self.crop_jpeg_quality > 0).then_some(self.crop_jpeg_quality),
            matching: matching.clone(),
        })
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            cache_mb: 256,
            purge_interval_minutes: 60,
            agency: None,
            write_batch: 64,
            write_batch_ms: 100,
            crop_jpeg_quality: 85,
            hotlist_refresh_ms: 30_000,
        }
    }
}

/// `[grpc]`: the query/audit API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrpcConfig {
    pub listen: SocketAddr,
    /// PEM files from `custos pki`. Required unless `custos serve --insecure-dev`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
    /// Revoked client certificates (`custos pki revoke`); read at start.
    pub crl: Option<PathBuf>,
    pub max_request_bytes: usize,
    pub session_idle_minutes: u64,
    pub session_absolute_hours: u64,
    pub lockout_free_attempts: u32,
    pub lockout_base_seconds: u64,
    pub lockout_max_minutes: u64,
    /// Logins checked at once (argon2id, 19 MiB each); more are refused with RESOURCE_EXHAUSTED.
    pub max_password_checks: usize,
}

impl Default for GrpcConfig {
    fn default() -> Self {
        let auth = custos_grpc::AuthConfig::default();
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 50051)),
            tls_cert: None,
            tls_key: None,
            client_ca: None,
            crl: None,
            max_request_bytes: custos_grpc::server::DEFAULT_MAX_REQUEST_BYTES,
            session_idle_minutes: auth.idle.as_secs() / 60,
            session_absolute_hours: auth.absolute.as_secs() / 3600,
            lockout_free_attempts: auth.free_attempts,
            lockout_base_seconds: auth.lockout_base.as_secs(),
            lockout_max_minutes: auth.lockout_max.as_secs() / 60,
            max_password_checks: auth.max_password_checks,
        }
    }
}

impl GrpcConfig {
    /// The authentication settings, range-checked.
    pub fn auth(&self) -> Result<custos_grpc::AuthConfig> {
        let within = |key: &str, v: u64, lo: u64, hi: u64| -> Result<()> {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                anyhow::bail!("[grpc] {key} = {v} is outside {lo}..={hi}")
            }
        };
        within(
            "session_idle_minutes",
            self.session_idle_minutes,
            1,
            24 * 60,
        )?;
        within(
            "session_absolute_hours",
            self.session_absolute_hours,
            1,
            7 * 24,
        )?;
        within(
            "lockout_free_attempts",
            u64::from(self.lockout_free_attempts),
            1,
            100,
        )?;
        within("lockout_base_seconds", self.lockout_base_seconds, 1, 3600)?;
        within("lockout_max_minutes", self.lockout_max_minutes, 1, 24 * 60)?;
        within(
            "max_password_checks",
            self.max_password_checks as u64,
            1,
            256,
        )?;
        within(
            "max_request_bytes",
            self.max_request_bytes as u64,
            1024,
            64 << 20,
        )?;
        Ok(custos_grpc::AuthConfig {
            idle: Duration::from_secs(self.session_idle_minutes * 60),
            absolute: Duration::from_secs(self.session_absolute_hours * 3600),
            free_attempts: self.lockout_free_attempts,
            lockout_base: Duration::from_secs(self.lockout_base_seconds),
            lockout_max: Duration::from_secs(self.lockout_max_minutes * 60),
            max_password_checks: self.max_password_checks,
        })
    }

    /// The TLS files, all three or none.
    pub fn tls(&self) -> Result<Option<custos_grpc::TlsFiles>> {
        match (&self.tls_cert, &self.tls_key, &self.client_ca) {
            (Some(cert), Some(key), Some(ca)) => Ok(Some(custos_grpc::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: ca.clone(),
                crl: self.crl.clone(),
            })),
            (None, None, None) => Ok(None),
            _ => {
                anyhow::bail!("[grpc] tls_cert, tls_key and client_ca go together: give all three")
            }
        }
    }
}

impl Config {
    /// Reads and parses the file; the error names the file, and for syntax and type errors the
    /// line, column and key.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))
    }

    /// Cameras with defaults applied and every field checked.
    pub fn cameras(&self, path: &Path) -> Result<Vec<CameraSettings>> {
        let cameras = custos_pipeline::config::validate_cameras(&self.ingest, &self.cameras)
            .with_context(|| format!("{}", path.display()))?;
        let ids: Vec<&str> = cameras.iter().map(|c| c.id.as_str()).collect();
        self.analysis
            .validate(&ids)
            .with_context(|| format!("{}", path.display()))?;
        Ok(cameras)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_and_store_sections() {
        let c: Config = toml::from_str(
            "[store]\ndata_dir = \"/tmp/x\"\n[grpc]\nlisten = \"127.0.0.1:1\"\nsession_idle_minutes = 10\n",
        )
        .unwrap();
        assert_eq!(c.store.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.grpc.auth().unwrap().idle, Duration::from_secs(600));
        assert!(c.grpc.tls().unwrap().is_none());
        let c: Config = toml::from_str("[ocr]\nviews = 5\n").unwrap();
        assert_eq!(c.ocr.runtime().views, 5);
        for views in [0, 8] {
            let bad = toml::from_str::<Config>(&format!("[ocr]\nviews = {views}\n"));
            assert!(
                bad.unwrap_err().to_string().contains("must be 1 to 7"),
                "{views}"
            );
        }
        let bad: Result<Config, _> = toml::from_str("[grpc]\nlisten_port = 1\n");
        assert!(bad.unwrap_err().to_string().contains("listen_port"));
        let c: Config = toml::from_str("[grpc]\ntls_cert = \"a\"\n").unwrap();
        assert!(c.grpc.tls().is_err());
        let c: Config = toml::from_str("[grpc]\nsession_idle_minutes = 0\n").unwrap();
        assert!(c.grpc.auth().is_err());
    }

    #[test]
    fn serve_sections_defaults_and_ranges() {
        let c: Config = toml::from_str("").unwrap();
        assert!(c.metrics.enabled);
        assert!(c.metrics.listen.ip().is_loopback());
        assert_eq!(c.store.agency, None);
        let w = c.store.writer(&c.hotlist_match).unwrap();
        assert_eq!((w.batch, w.crop_quality), (64, Some(85)));
        let c: Config = toml::from_str(
            "[store]\nagency = \"north\"\ncrop_jpeg_quality = 0\n[metrics]\nenabled = false\n\
             [hotlist_match]\nmax_confusable = 0\n",
        )
        .unwrap();
        assert_eq!(c.store.agency.as_deref(), Some("north"));
        assert!(!c.metrics.enabled);
        let w = c.store.writer(&c.hotlist_match).unwrap();
        assert_eq!((w.crop_quality, w.matching.max_confusable), (None, 0));
        for bad in [
            "[store]\nwrite_batch = 0\n",
            "[store]\ncrop_jpeg_quality = 101\n",
            "[store]\nhotlist_refresh_ms = 1\n",
            "[hotlist_match]\nmax_substitutions = 3\n",
        ] {
            let c: Config = toml::from_str(bad).unwrap();
            assert!(c.store.writer(&c.hotlist_match).is_err(), "{bad}");
        }
        assert!(toml::from_str::<Config>("[metrics]\nport = 1\n").is_err());
        assert!(toml::from_str::<Config>("[hotlist_match]\nfuzzy = 1\n").is_err());
    }
}
