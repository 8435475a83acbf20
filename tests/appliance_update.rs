//! The appliance's signed update path (`appliance-image/update`), through its own shell test
//! `appliance-image/test-update`: signed bundles apply; unsigned, tampered and foreign-signed
//! ones are refused and leave the current release in place. A shell test because the update
//! path is a shell script on the appliance; run here so that CI runs it (a few seconds, needs
//! only bash, openssl and tar).

use std::process::Command;

#[test]
fn signed_update_bundles_apply_and_bad_ones_are_refused() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/appliance-image/test-update");
    let out = Command::new("bash")
        .arg(script)
        .output()
        .expect("run appliance-image/test-update");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "appliance-image/test-update failed:\n{text}"
    );
    assert!(text.contains("test-update: PASS"), "no PASS line:\n{text}");
}
