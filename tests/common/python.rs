//! Shared with `grpc/tests/common` through `#[path]`: both test crates run the venv's Python.

/// The project venv's Python (`scripts/setup` makes it and installs grpcio there; Debian's
/// system Python refuses pip), or `CUSTOS_PYTHON`. Missing, the test fails and says why.
pub fn python3() -> std::path::PathBuf {
    let path = std::env::var_os("CUSTOS_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/opt/custos/venv/bin/python3".into());
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup (or set CUSTOS_PYTHON)",
        path.display()
    );
    path
}
