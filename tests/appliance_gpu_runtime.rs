//! The GPU runtime's resolution check (`appliance-image/gpu-runtime --check`), through its own
//! shell test `appliance-image/test-gpu-runtime` on a tiny fake lib dir: every DT_NEEDED must be
//! in the dir, the Debian base or the NVIDIA driver, and a missing one is named with what needs
//! it. Downloads nothing (the real run fetches about 800 MB of wheels: a developer step); needs
//! bash, cc and readelf.

use std::process::Command;

#[test]
fn gpu_runtime_resolution_check_names_missing_libraries() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/appliance-image/test-gpu-runtime"
    );
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run appliance-image/test-gpu-runtime");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "appliance-image/test-gpu-runtime failed:\n{text}"
    );
    assert!(
        text.contains("test-gpu-runtime: PASS"),
        "no PASS line:\n{text}"
    );
}
