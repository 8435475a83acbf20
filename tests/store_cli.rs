//! `custos agency …` and `custos audit verify` as an administrator runs them.
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn custos(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_custos"))
        .args(args)
        .output()
        .expect("run custos");
    let all =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), all)
}

fn add_reads(data: &std::path::Path) {
    let store = custos_store::AgencyStore::open(
        &custos_store::Layout::new(data),
        "metro",
        custos_store::StoreOptions::default(),
    )
    .unwrap();
    let now = custos_store::Clock::now_ms(&custos_store::SystemClock);
    let read = custos_store::NewRead {
        camera: custos_core::CameraId::new("gate").unwrap(),
        captured_at_ms: now,
        plate: "CLI1234".into(),
        confidence: 0.9,
        char_confidences: vec![0.9; 7],
        candidates: vec![],
        plate_box: [0.0; 8],
        crop_jpeg: Some(b"jpeg".to_vec()),
        context_jpeg: None,
        track_id: 1,
        hit_flags: 0,
    };
    store.ingest(&[read]).unwrap();
}

#[test]
fn create_export_verify_and_decommission() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (ok, out) = custos(&["agency", "create", "--data-dir", d, "--agency", "metro"]);
    assert!(ok, "{out}");
    let public_key = out
        .lines()
        .find_map(|l| l.strip_prefix("appliance public key: "))
        .unwrap_or_else(|| panic!("no public key printed: {out}"))
        .trim()
        .to_owned();
    let pk = public_key.as_str();
    let key = data.join("agencies/metro/master.key");
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, out) = custos(&["agency", "create", "--data-dir", d, "--agency", "metro"]);
    assert!(!ok && out.contains("already exists"), "{out}");

    add_reads(&data);
    let (ok, out) = custos(&["audit", "verify", "--data-dir", d, "--agency", "metro"]);
    assert!(ok && out.contains("OK"), "{out}");

    let bundle = dir.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let (ok, out) = custos(&[
        "agency",
        "export",
        "--data-dir",
        d,
        "--agency",
        "metro",
        "--out",
        b,
    ]);
    assert!(ok && out.contains("exported 1 reads"), "{out}");
    assert!(
        std::fs::read_to_string(bundle.join("reads.jsonl"))
            .unwrap()
            .contains("CLI1234")
    );
    let (ok, out) = custos(&["agency", "verify-export", b, "--public-key", pk]);
    assert!(ok && out.contains("OK"), "{out}");
    let (ok, out) = custos(&["audit", "verify", "--export", b, "--public-key", pk]);
    assert!(ok, "{out}");

    // Alter the second audit line of the export: both commands name it.
    let audit = std::fs::read_to_string(bundle.join("audit.jsonl")).unwrap();
    let tampered = audit.replacen("\"principal\":\"cli\"", "\"principal\":\"eve\"", 1);
    assert_ne!(audit, tampered);
    std::fs::write(bundle.join("audit.jsonl"), tampered).unwrap();
    let (ok, out) = custos(&["audit", "verify", "--export", b, "--public-key", pk]);
    assert!(!ok && out.contains("was altered"), "{out}");
    let (ok, out) = custos(&["agency", "verify-export", b, "--public-key", pk]);
    assert!(!ok && out.contains("audit.jsonl: SHA-256 differs"), "{out}");

    let (ok, out) = custos(&[
        "agency",
        "decommission",
        "--data-dir",
        d,
        "--agency",
        "metro",
        "--reason",
        "contract ended",
    ]);
    assert!(ok && out.contains("after 90 days"), "{out}");
    let (ok, out) = custos(&["agency", "wipe-due", "--data-dir", d]);
    assert!(ok && out.contains("no agency is due"), "{out}");
    assert!(data.join("agencies/metro").exists());
}

#[test]
fn audit_verify_on_a_missing_agency_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = custos(&[
        "audit",
        "verify",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--agency",
        "nobody",
    ]);
    assert!(!ok && out.contains("does not exist"), "{out}");
}

#[test]
fn principal_add_with_a_one_time_code_must_change_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = data.to_str().unwrap();
    let (ok, out) = custos(&["agency", "create", "--data-dir", d, "--agency", "metro"]);
    assert!(ok, "{out}");
    let pw = dir.path().join("code");
    std::fs::write(&pw, "ENROL-7Q2X-PL4M-ZZ9K\n").unwrap();
    let add = |name: &str, one_time: bool| {
        let mut args = vec![
            "principal",
            "add",
            "--data-dir",
            d,
            "--agency",
            "metro",
            "--name",
            name,
            "--role",
            "admin",
            "--password-file",
            pw.to_str().unwrap(),
        ];
        if one_time {
            args.push("--one-time");
        }
        let (ok, out) = custos(&args);
        assert!(ok, "{out}");
    };
    add("first", true);
    add("second", false);
    let store = custos_store::AgencyStore::open(
        &custos_store::Layout::new(&data),
        "metro",
        custos_store::StoreOptions::default(),
    )
    .unwrap();
    let must_change = |name: &str| {
        let (id, _) = store.find_principal(name).unwrap().unwrap();
        store
            .login_secrets(id)
            .unwrap()
            .unwrap()
            .must_change_password
    };
    assert!(must_change("first"));
    assert!(!must_change("second"));
}
