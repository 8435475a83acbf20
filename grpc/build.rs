//! Generates the custos.v1 messages and services from `proto/` (needs `protoc`, installed by
//! scripts/setup) and the descriptor set that server reflection serves.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let protos = [
        "proto/custos/v1/common.proto",
        "proto/custos/v1/auth.proto",
        "proto/custos/v1/reads.proto",
        "proto/custos/v1/hotlists.proto",
        "proto/custos/v1/cameras.proto",
        "proto/custos/v1/audit.proto",
        "proto/custos/v1/admin.proto",
    ];
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("custos_v1_descriptor.bin"))
        // Messages carrying secrets get hand-written Debug (redacted): the audit layer records
        // requests by their Debug form.
        .skip_debug([
            "custos.v1.LoginRequest",
            "custos.v1.EnrollTotpRequest",
            "custos.v1.ChangePasswordRequest",
            "custos.v1.CreatePrincipalRequest",
        ])
        .compile_protos(&protos, &["proto"])?;
    Ok(())
}
