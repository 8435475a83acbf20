//! The appliance's config file (TOML). Every key is documented in docs/config.md.

use std::path::Path;

use anyhow::{Context, Result};
use custos_pipeline::{CameraConfig, CameraSettings, IngestDefaults};
use serde::Deserialize;

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
    pub analysis: custos::analysis::AnalysisConfig,
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
