// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]
mod common;

use common::*;
use custos_store::audit::Problem;
use custos_store::records::{Hotlist, HotlistEntry};
use custos_store::{Access, verify_export};

fn exported() -> (Fixture, tempfile::TempDir) {
    let f = fixture();
    let who = Access::new("records-officer", "agency request");
    let ids = f
        .store
        .ingest(&[read("EXP1234", T0), read("EXP5678", T0 + DAY)])
        .unwrap();
    f.store.place_hold(&who, "CASE-9", &ids[..1]).unwrap();
    let list = f
        .store
        .create_hotlist(
            &who,
            &Hotlist {
                name: "stolen".into(),
                description: String::new(),
                covert: false,
            },
        )
        .unwrap();
    f.store
        .add_hotlist_entry(
            &who,
            &HotlistEntry {
                hotlist_id: list,
                plate: "st-0001".into(),
                note: "x".into(),
                covert: true,
                expires_at_ms: None,
            },
        )
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let summary = f
        .store
        .export(&who, &out.path().join("bundle"), false)
        .unwrap();
    assert_eq!(summary.reads, 2);
    assert_eq!(summary.crops, 2);
    (f, out)
}

#[test]
fn export_holds_decrypted_reads_and_verifies() {
    let (_f, out) = exported();
    let b = out.path().join("bundle");
    let reads = std::fs::read_to_string(b.join("reads.jsonl")).unwrap();
    assert_eq!(reads.lines().count(), 2);
    assert!(reads.contains("\"plate\":\"EXP1234\""));
    assert!(reads.contains("\"held\":true"));
    let line: serde_json::Value = serde_json::from_str(reads.lines().next().unwrap()).unwrap();
    let crop = line["crop"].as_str().unwrap();
    assert!(
        std::fs::read(b.join(crop))
            .unwrap()
            .starts_with(b"JPEG-CROP-OF-EXP")
    );
    let hot = std::fs::read_to_string(b.join("hotlists.json")).unwrap();
    assert!(hot.contains("ST0001") && hot.contains("\"covert\": true"));
    assert!(
        std::fs::read_to_string(b.join("holds.json"))
            .unwrap()
            .contains("CASE-9")
    );
    let report = verify_export(&b, None).unwrap();
    assert!(report.ok(), "{:?} {}", report.problems, report.audit);
    let audit = std::fs::read_to_string(b.join("audit.jsonl")).unwrap();
    assert!(audit.contains("agency.export"), "the export records itself");
}

#[test]
fn verify_export_names_altered_and_added_files() {
    let (_f, out) = exported();
    let b = out.path().join("bundle");
    let reads = std::fs::read_to_string(b.join("reads.jsonl")).unwrap();
    std::fs::write(b.join("reads.jsonl"), reads.replace("EXP5678", "EXP5679")).unwrap();
    std::fs::write(b.join("extra.txt"), "x").unwrap();
    let report = verify_export(&b, None).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("reads.jsonl: SHA-256 differs")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.starts_with("extra.txt: not in the manifest"))
    );
}

#[test]
fn verify_export_names_the_tampered_audit_entry() {
    let (_f, out) = exported();
    let b = out.path().join("bundle");
    let text = std::fs::read_to_string(b.join("audit.jsonl")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut e: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    e["reason"] = "edited".into();
    lines[2] = e.to_string();
    std::fs::write(b.join("audit.jsonl"), lines.join("\n") + "\n").unwrap();
    let report = verify_export(&b, None).unwrap();
    assert_eq!(
        report.audit.problems,
        vec![Problem::Altered {
            seq: 2,
            position: 2
        }]
    );
    assert!(report.problems.iter().any(|p| p.starts_with("audit.jsonl")));

    // Reorder and remove in a fresh copy of the original lines.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines.remove(1);
    std::fs::write(b.join("audit.jsonl"), lines.join("\n") + "\n").unwrap();
    let report = verify_export(&b, None).unwrap();
    assert_eq!(
        report.audit.problems,
        vec![Problem::Removed { first: 1, last: 1 }]
    );
}

#[test]
fn export_refuses_a_non_empty_directory() {
    let f = fixture();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("x"), "x").unwrap();
    let err = f
        .store
        .export(&Access::new("a", "b"), out.path(), false)
        .unwrap_err();
    assert!(err.to_string().contains("not empty"));
}

#[test]
fn export_is_readable_only_by_the_appliance_user() {
    use std::os::unix::fs::PermissionsExt;
    let (_f, out) = exported();
    let bundle = out.path().join("bundle");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let mut files = 0;
    for dir in [bundle.clone(), bundle.join("crops")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                assert_eq!(mode(&p), 0o600, "{}", p.display());
                files += 1;
            }
        }
    }
    assert!(files >= 5, "{files} files checked");
}

#[test]
fn a_bundle_re_signed_by_another_key_fails_against_the_pinned_key() {
    use ed25519_dalek::Signer;
    use sha2::Digest;
    let (f, out) = exported();
    let b = out.path().join("bundle");
    // The forger alters reads, fixes the hash in the manifest, signs with a key of their own
    // and names that key in the manifest.
    let reads = std::fs::read_to_string(b.join("reads.jsonl"))
        .unwrap()
        .replace("EXP5678", "FAKE999");
    std::fs::write(b.join("reads.jsonl"), &reads).unwrap();
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join("manifest.json")).unwrap()).unwrap();
    for file in manifest["files"].as_array_mut().unwrap() {
        if file["path"] == "reads.jsonl" {
            file["sha256"] = hex::encode(sha2::Sha256::digest(reads.as_bytes())).into();
        }
    }
    let forger = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    manifest["appliance_public_key"] = hex::encode(forger.verifying_key().to_bytes()).into();
    let bytes = serde_json::to_vec_pretty(&manifest).unwrap();
    std::fs::write(b.join("manifest.json"), &bytes).unwrap();
    std::fs::write(
        b.join("manifest.sig"),
        hex::encode(forger.sign(&bytes).to_bytes()),
    )
    .unwrap();
    let pinned = custos_store::appliance::signing_key(&f.layout)
        .unwrap()
        .verifying_key();
    let report = verify_export(&b, Some(&pinned)).unwrap();
    assert!(!report.ok());
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("not the pinned key")),
        "{:?}",
        report.problems
    );
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("signature does not verify")),
        "{:?}",
        report.problems
    );
}
