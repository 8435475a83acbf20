//! The OCR model on ONNX Runtime (loaded at run time from a shared library), with execution
//! providers tried in the configured order.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use custos_core::PlateText;
use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;
use ort::value::TensorRef;
use tracing::{info, warn};

use crate::decode::{CHARSET, decode_ctc};
use crate::preprocess::{GrayCrop, InputSpec, View, fill_input_view};
use crate::views::{VIEWS, vote};
use crate::{OcrError, Provider, Recognizer};

/// Where `scripts/setup` installs ONNX Runtime.
pub const DEFAULT_RUNTIME_LIBRARY: &str = "/usr/local/lib/custos/libonnxruntime.so";

/// The `[ocr]` section of the config file; every key optional.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OcrConfig {
    /// The ONNX model; default: the committed `models/ocr.onnx`.
    pub model: Option<PathBuf>,
    /// ONNX Runtime's shared library; default: `ORT_DYLIB_PATH`, then [`DEFAULT_RUNTIME_LIBRARY`].
    pub runtime_library: Option<PathBuf>,
    /// Execution providers in order of preference; default tensorrt, cuda, cpu.
    pub providers: Option<Vec<Provider>>,
    /// The first provider must work (no fallback).
    pub strict: bool,
    /// TensorRT engine cache directory.
    pub engine_cache: Option<PathBuf>,
    /// Intra-op threads; 0 or absent: ONNX Runtime's choice.
    pub threads: usize,
    /// Views of each crop read (1–7): more read plates better at that many times the OCR work
    /// (see [`crate::VIEWS`]). Default 1.
    pub views: ViewCount,
}

/// How many [`crate::VIEWS`] of each crop are read: 1–7.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(try_from = "usize")]
pub struct ViewCount(usize);

impl ViewCount {
    pub fn get(self) -> usize {
        self.0
    }
}

impl Default for ViewCount {
    fn default() -> Self {
        Self(1)
    }
}

impl TryFrom<usize> for ViewCount {
    type Error = String;

    fn try_from(n: usize) -> Result<Self, String> {
        if (1..=VIEWS.len()).contains(&n) {
            Ok(Self(n))
        } else {
            Err(format!("views = {n}: must be 1 to {}", VIEWS.len()))
        }
    }
}

impl OcrConfig {
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            library: self.runtime_library.clone(),
            providers: self
                .providers
                .clone()
                .unwrap_or_else(|| crate::DEFAULT_PROVIDERS.to_vec()),
            strict: self.strict,
            engine_cache: self.engine_cache.clone(),
            threads: self.threads,
            views: self.views.get(),
        }
    }

    pub fn model_path(&self) -> PathBuf {
        self.model.clone().unwrap_or_else(crate::bundled_model)
    }
}

#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// ONNX Runtime's shared library; `None`: `ORT_DYLIB_PATH`, then [`DEFAULT_RUNTIME_LIBRARY`].
    pub library: Option<PathBuf>,
    /// Providers in order of preference; the first that works runs the model.
    pub providers: Vec<Provider>,
    /// The first provider must work: no silent fallback (what an appliance with a GPU wants).
    pub strict: bool,
    /// Where TensorRT caches its engines (building one takes minutes).
    pub engine_cache: Option<PathBuf>,
    /// CPU threads for one inference; 0 lets ONNX Runtime choose.
    pub threads: usize,
    /// Views of each crop read and voted on ([`crate::VIEWS`]; clamped to 1–7).
    pub views: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            library: None,
            providers: crate::DEFAULT_PROVIDERS.to_vec(),
            strict: false,
            engine_cache: None,
            threads: 0,
            views: 1,
        }
    }
}

/// The library path to load, by precedence: config, `ORT_DYLIB_PATH`, the default.
pub fn library_path(configured: Option<&Path>) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("ORT_DYLIB_PATH").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNTIME_LIBRARY))
}

/// Loads ONNX Runtime once per process and creates its environment; later calls return the
/// first outcome (the library cannot be swapped once loaded).
fn environment(path: &Path) -> Result<Environment, OcrError> {
    static ENVIRONMENT: OnceLock<Result<Environment, (PathBuf, String)>> = OnceLock::new();
    let loaded = ENVIRONMENT.get_or_init(|| {
        let fail = |reason: String| (path.to_path_buf(), reason);
        if !path.is_file() {
            return Err(fail("no such file".to_owned()));
        }
        ort::init_from(path)
            .map_err(|e| fail(e.to_string()))?
            .with_name("custos")
            .build()
            .map_err(|e| fail(e.to_string()))
    });
    loaded
        .clone()
        .map_err(|(path, reason)| OcrError::Runtime { path, reason })
}

/// The plate OCR model on ONNX Runtime.
pub struct OnnxRecognizer {
    session: Session,
    provider: Provider,
    input: InputSpec,
    /// Providers that were tried before the active one, with why they could not be used.
    fallbacks: Vec<(Provider, String)>,
    /// The views each crop is read in.
    views: &'static [View],
    scratch: Vec<f32>,
}

impl OnnxRecognizer {
    pub fn load(model: &Path, config: &RuntimeConfig) -> Result<Self, OcrError> {
        let env = environment(&library_path(config.library.as_deref()))?;
        let model_err = |reason: String| OcrError::Model {
            path: model.to_path_buf(),
            reason,
        };
        if !model.is_file() {
            return Err(model_err("no such file".into()));
        }
        if config.providers.is_empty() {
            return Err(OcrError::NoProvider("the provider list is empty".into()));
        }
        let mut fallbacks = Vec::new();
        for (i, &provider) in config.providers.iter().enumerate() {
            match build_session(&env, model, provider, config) {
                Ok(session) => {
                    let input = input_spec(&session).map_err(model_err)?;
                    for (p, why) in &fallbacks {
                        warn!(provider = %p, reason = %why, "OCR execution provider unavailable; fell back");
                    }
                    info!(%provider, width = input.width, height = input.height, "OCR model loaded");
                    return Ok(Self {
                        session,
                        provider,
                        input,
                        fallbacks,
                        views: &VIEWS[..config.views.clamp(1, VIEWS.len())],
                        scratch: Vec::new(),
                    });
                }
                Err(SessionError::Model(reason)) => return Err(model_err(reason)),
                Err(SessionError::Provider(reason)) => {
                    if config.strict && i == 0 {
                        return Err(OcrError::ProviderRequired { provider, reason });
                    }
                    fallbacks.push((provider, reason));
                }
            }
        }
        Err(OcrError::NoProvider(
            fallbacks
                .iter()
                .map(|(p, why)| format!("{p}: {why}"))
                .collect::<Vec<_>>()
                .join("; "),
        ))
    }

    /// Providers tried before the active one, with the reason each could not be used.
    pub fn fallbacks(&self) -> &[(Provider, String)] {
        &self.fallbacks
    }
}

enum SessionError {
    Provider(String),
    Model(String),
}

fn build_session(
    env: &Environment,
    model: &Path,
    provider: Provider,
    config: &RuntimeConfig,
) -> Result<Session, SessionError> {
    let provider_err = |e: ort::Error| SessionError::Provider(e.to_string());
    let mut builder = Session::builder(env).map_err(provider_err)?;
    if config.threads > 0 {
        builder = builder
            .with_intra_threads(config.threads)
            .map_err(|e| SessionError::Provider(e.to_string()))?;
    }
    // Register only this provider, failing loudly, so we know which one runs the model.
    let dispatch = match provider {
        Provider::TensorRt => {
            require(ep::TensorRT::is_available(), "TensorRT")?;
            let mut trt = ep::TensorRT::default().with_fp16(true);
            if let Some(dir) = &config.engine_cache {
                trt = trt
                    .with_engine_cache(true)
                    .with_engine_cache_path(dir.display());
            }
            trt.build()
        }
        Provider::Cuda => {
            require(ep::CUDA::is_available(), "CUDA")?;
            ep::CUDA::default().build()
        }
        Provider::Cpu => ep::CPU::default().build(),
    };
    builder = builder
        .with_execution_providers([dispatch.error_on_failure()])
        .map_err(|e| SessionError::Provider(e.to_string()))?;
    builder.commit_from_file(model).map_err(|e| {
        let text = e.to_string();
        // A provider that registered but cannot run the graph shows up here too.
        if provider == Provider::Cpu {
            SessionError::Model(text)
        } else {
            SessionError::Provider(text)
        }
    })
}

fn require(available: ort::Result<bool>, name: &str) -> Result<(), SessionError> {
    match available {
        Ok(true) => Ok(()),
        Ok(false) => Err(SessionError::Provider(format!(
            "this ONNX Runtime library was built without the {name} provider"
        ))),
        Err(e) => Err(SessionError::Provider(e.to_string())),
    }
}

/// Reads the model's input size (N × 1 × H × W) and checks its output's class count.
fn input_spec(session: &Session) -> Result<InputSpec, String> {
    let input = session.inputs().first().ok_or("the model has no input")?;
    let shape = input
        .dtype()
        .tensor_shape()
        .ok_or("the model's input is not a tensor")?;
    let dims: Vec<i64> = shape.iter().copied().collect();
    match dims.as_slice() {
        [_, 1, h, w] if *h > 0 && *w > 0 => {
            let output = session.outputs().first().ok_or("the model has no output")?;
            let out_dims: Vec<i64> = output
                .dtype()
                .tensor_shape()
                .map(|s| s.iter().copied().collect())
                .unwrap_or_default();
            if out_dims
                .last()
                .is_some_and(|c| *c != CHARSET.len() as i64 + 1)
            {
                return Err(format!(
                    "output shape {out_dims:?}: expected {} classes",
                    CHARSET.len() + 1
                ));
            }
            Ok(InputSpec {
                width: *w as usize,
                height: *h as usize,
            })
        }
        _ => Err(format!(
            "input shape {dims:?}: expected [batch, 1, height, width]"
        )),
    }
}

impl Recognizer for OnnxRecognizer {
    fn input(&self) -> InputSpec {
        self.input
    }

    fn provider(&self) -> Provider {
        self.provider
    }

    fn recognize(&mut self, crops: &[GrayCrop<'_>]) -> Result<Vec<PlateText>, OcrError> {
        if crops.is_empty() {
            return Ok(Vec::new());
        }
        let per = self.input.len();
        let views = self.views.len();
        self.scratch.resize(per * crops.len() * views, 0.0);
        let mut inputs = self.scratch.chunks_exact_mut(per);
        for (i, crop) in crops.iter().enumerate() {
            for (&view, out) in self.views.iter().zip(&mut inputs) {
                if !fill_input_view(crop, view, self.input, out) {
                    return Err(OcrError::Crop {
                        index: i,
                        reason: format!(
                            "{}×{} with stride {} does not fit its {} bytes",
                            crop.width,
                            crop.height,
                            crop.stride,
                            crop.pixels.len()
                        ),
                    });
                }
            }
        }
        let batch = crops.len() * views;
        let shape = [batch, 1, self.input.height, self.input.width];
        let tensor = TensorRef::from_array_view((shape, &self.scratch[..]))
            .map_err(|e| OcrError::Inference(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![tensor])
            .map_err(|e| OcrError::Inference(e.to_string()))?;
        let (shape, probs) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| OcrError::Inference(e.to_string()))?;
        let dims: Vec<i64> = shape.iter().copied().collect();
        let [n, steps, classes] = dims[..] else {
            return Err(OcrError::Inference(format!(
                "unexpected output shape {dims:?}"
            )));
        };
        if n as usize != batch || classes as usize != CHARSET.len() + 1 {
            return Err(OcrError::Inference(format!(
                "unexpected output shape {dims:?}"
            )));
        }
        let per_read = (steps * classes) as usize;
        Ok(probs
            .chunks_exact(per_read * views)
            .map(|crop| {
                let reads = crop
                    .chunks_exact(per_read)
                    .map(|p| decode_ctc(p, steps as usize));
                vote(reads.collect())
            })
            .collect())
    }
}
