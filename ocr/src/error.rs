use std::path::PathBuf;

use crate::Provider;

#[derive(Debug, thiserror::Error)]
pub enum OcrError {
    #[error(
        "cannot load ONNX Runtime from {path}: {reason} (run scripts/setup, or point ORT_DYLIB_PATH \
         or the config's runtime_library at libonnxruntime.so, version 1.23 or newer)"
    )]
    Runtime { path: PathBuf, reason: String },
    #[error("OCR model {path}: {reason}")]
    Model { path: PathBuf, reason: String },
    #[error("execution provider {provider} is required (strict) but not usable: {reason}")]
    ProviderRequired { provider: Provider, reason: String },
    #[error("no execution provider could run the model: {0}")]
    NoProvider(String),
    #[error("OCR inference failed: {0}")]
    Inference(String),
    #[error("crop {index}: {reason}")]
    Crop { index: usize, reason: String },
}
