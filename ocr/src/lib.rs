//! Plate OCR: our own compact model (CNN + CTC, trained by `models/train.py`) run batched on ONNX
//! Runtime with TensorRT → CUDA → CPU, the batcher all cameras share, and decoding into
//! [`PlateText`] with per-character confidences and alternatives.
//!
//! Owns: the OCR model's runtime, execution providers, batching and decoding. May not touch:
//! localisation, tracking, the store or the network.

mod batcher;
mod decode;
mod error;
mod preprocess;
mod provider;
mod runtime;
mod views;

use custos_core::PlateText;

pub use batcher::{BatchPolicy, Batcher};
pub use decode::{CHARSET, decode_ctc};
pub use error::OcrError;
pub use preprocess::{GrayCrop, InputSpec, View, fill_input, fill_input_view};
pub use provider::{DEFAULT_PROVIDERS, Provider};
pub use runtime::{
    DEFAULT_RUNTIME_LIBRARY, OcrConfig, OnnxRecognizer, RuntimeConfig, library_path,
};
pub use views::VIEWS;

/// An OCR engine: reads a batch of plate crops.
pub trait Recognizer: Send {
    /// The input size crops are resized to.
    fn input(&self) -> InputSpec;
    /// The execution provider running the model.
    fn provider(&self) -> Provider;
    /// One [`PlateText`] per crop, in order.
    fn recognize(&mut self, crops: &[GrayCrop<'_>]) -> Result<Vec<PlateText>, OcrError>;
}

/// The committed model, as found from the source tree (installed appliances pass a path).
pub fn bundled_model() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ocr.onnx")
}
