//! The appliance's shell scripts, through their own shell tests in `appliance-image/`: run here
//! so that CI runs them (seconds each; they need bash and the tools `scripts/setup` installs).
// Helpers outside #[test] functions unwrap too: a panic in a test is a failure with its message.
#![allow(clippy::unwrap_used)]

use std::process::Command;

/// Runs `appliance-image/<name>` and expects it to succeed with its `<name>: PASS` line.
fn run_shell_test(name: &str) {
    let script = format!("{}/appliance-image/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "appliance-image/{name} failed:\n{text}"
    );
    assert!(
        text.contains(&format!("{name}: PASS")),
        "no PASS line:\n{text}"
    );
}

/// The signed update path (`appliance-image/update`): signed bundles apply; unsigned, tampered
/// and foreign-signed ones are refused and leave the current release in place (needs openssl
/// and tar). A shell test because the update path is a shell script on the appliance.
#[test]
fn signed_update_bundles_apply_and_bad_ones_are_refused() {
    run_shell_test("test-update");
}

/// The GPU runtime's resolution check (`appliance-image/gpu-runtime --check`) on a tiny fake lib
/// dir: every DT_NEEDED must be in the dir, the Debian base or the NVIDIA driver, and a missing
/// one is named with what needs it. Downloads nothing (the real run fetches about 1.9 GB of
/// wheels: a developer step); needs cc and readelf.
#[test]
fn gpu_runtime_resolution_check_names_missing_libraries() {
    run_shell_test("test-gpu-runtime");
}
