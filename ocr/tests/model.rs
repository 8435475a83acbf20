//! The committed OCR model on the real ONNX Runtime library that scripts/setup installs.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

use custos_ocr::{
    GrayCrop, OcrError, OnnxRecognizer, Provider, Recognizer, RuntimeConfig, bundled_model,
};
use custos_synth::plate::{PlateFonts, PlateSpec, RgbImage};

fn cpu_only() -> RuntimeConfig {
    RuntimeConfig {
        providers: vec![Provider::Cpu],
        ..RuntimeConfig::default()
    }
}

/// Read alone and in five views (voted): both must read the rendered plates, with complete
/// per-character reads.
#[test]
fn committed_model_reads_rendered_plates() {
    let fonts = PlateFonts::load().expect("fonts (run scripts/setup)");
    let mut rng = fastrand::Rng::with_seed(2024);
    let plates: Vec<(String, RgbImage)> = (0..200)
        .map(|_| {
            let spec = PlateSpec::random(&mut rng);
            let img = spec.render(&fonts, 180 + rng.usize(..100), &mut rng);
            (spec.text, img)
        })
        .collect();
    let pixels: Vec<Vec<u8>> = plates.iter().map(|(_, img)| img.to_gray()).collect();
    for views in [1, 5] {
        let config = RuntimeConfig {
            views,
            ..cpu_only()
        };
        let mut recognizer = OnnxRecognizer::load(&bundled_model(), &config).expect("model loads");
        let mut misses = Vec::new();
        for (chunk, px) in plates.chunks(32).zip(pixels.chunks(32)) {
            let crops: Vec<GrayCrop> = chunk
                .iter()
                .zip(px)
                .map(|((_, img), p)| GrayCrop::packed(img.width, img.height, p).unwrap())
                .collect();
            let reads = recognizer.recognize(&crops).unwrap();
            assert_eq!(reads.len(), crops.len());
            for ((truth, _), read) in chunk.iter().zip(reads) {
                assert!(
                    read.chars
                        .iter()
                        .all(|c| (0.0..=1.0).contains(&c.confidence) && c.alternatives.len() == 2)
                );
                assert_eq!(read.chars.len(), read.text.len());
                if &read.text != truth {
                    misses.push(format!(
                        "{truth} read as {} ({:.2})",
                        read.text, read.confidence
                    ));
                }
            }
        }
        let exact = 1.0 - misses.len() as f64 / plates.len() as f64;
        misses.truncate(20);
        assert!(
            exact >= 0.99,
            "{views} view(s): exact {exact:.3}; first misses: {misses:?}"
        );
    }
}

#[test]
fn falls_back_in_order_with_reasons() {
    let recognizer =
        OnnxRecognizer::load(&bundled_model(), &RuntimeConfig::default()).expect("falls back");
    // On a GPU machine the active provider is TensorRT or CUDA; what it skipped must still be
    // exactly the providers ahead of it, each with its reason.
    let ahead: Vec<Provider> = [Provider::TensorRt, Provider::Cuda, Provider::Cpu]
        .into_iter()
        .take_while(|p| *p != recognizer.provider())
        .collect();
    let tried: Vec<Provider> = recognizer.fallbacks().iter().map(|(p, _)| *p).collect();
    assert_eq!(tried, ahead, "active provider {}", recognizer.provider());
    assert!(
        recognizer
            .fallbacks()
            .iter()
            .all(|(_, why)| !why.is_empty())
    );
}

#[test]
fn strict_refuses_to_fall_back() {
    let config = RuntimeConfig {
        strict: true,
        ..RuntimeConfig::default()
    };
    match OnnxRecognizer::load(&bundled_model(), &config) {
        Err(OcrError::ProviderRequired { provider, reason }) => {
            assert_eq!(provider, Provider::TensorRt);
            assert!(!reason.is_empty());
        }
        Ok(r) => assert_eq!(
            r.provider(),
            Provider::TensorRt,
            "strict must run on the first provider or fail"
        ),
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn bad_model_files_and_crops_are_clear_errors() {
    let dir = std::env::temp_dir().join(format!("custos-ocr-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("missing.onnx");
    let err = OnnxRecognizer::load(&missing, &cpu_only())
        .err()
        .expect("missing model is an error");
    assert!(
        matches!(err, OcrError::Model { .. }) && err.to_string().contains("missing.onnx"),
        "{err}"
    );

    let garbage = dir.join("garbage.onnx");
    std::fs::write(&garbage, b"this is not an onnx model").unwrap();
    let err = OnnxRecognizer::load(&garbage, &cpu_only())
        .err()
        .expect("garbage model is an error");
    assert!(
        matches!(err, OcrError::Model { .. }) && err.to_string().contains("garbage.onnx"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);

    let mut recognizer = OnnxRecognizer::load(&bundled_model(), &cpu_only()).unwrap();
    let pixels = [0u8; 10];
    let bad = GrayCrop {
        width: 8,
        height: 8,
        stride: 8,
        pixels: &pixels,
    };
    let err = recognizer.recognize(&[bad]).unwrap_err();
    assert!(matches!(err, OcrError::Crop { index: 0, .. }), "{err}");
    assert!(recognizer.recognize(&[]).unwrap().is_empty());
}

#[test]
fn a_missing_runtime_library_is_named() {
    // Only meaningful before the runtime is loaded in this process: run in a child.
    if std::env::var_os("CUSTOS_OCR_CHILD").is_some() {
        let config = RuntimeConfig {
            library: Some("/nonexistent/libonnxruntime.so".into()),
            ..cpu_only()
        };
        let err = OnnxRecognizer::load(&bundled_model(), &config)
            .err()
            .expect("error");
        println!("ERROR: {err}");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_missing_runtime_library_is_named",
            "--nocapture",
        ])
        .env("CUSTOS_OCR_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ERROR: cannot load ONNX Runtime from /nonexistent/libonnxruntime.so"),
        "{stdout}"
    );
}
