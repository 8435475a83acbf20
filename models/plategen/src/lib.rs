//! Training-data generators for the models in `models/` (developer tools, never run by CI).
//!
//! Owns: synthetic training crops for the models. May not touch: the product's runtime; it only
//! consumes `custos-synth` and writes files.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};

/// Writes a uint8 array in NumPy's .npy format (version 1.0).
pub fn write_npy(path: &Path, data: &[u8], shape: [usize; 3]) -> Result<()> {
    let mut header = format!(
        "{{'descr': '|u1', 'fortran_order': False, 'shape': ({}, {}, {}), }}",
        shape[0], shape[1], shape[2]
    );
    // The header (after the 10-byte preamble) is padded to a multiple of 64 and ends in '\n'.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
    );
    file.write_all(b"\x93NUMPY\x01\x00")?;
    file.write_all(&(header.len() as u16).to_le_bytes())?;
    file.write_all(header.as_bytes())?;
    file.write_all(data)?;
    file.flush()?;
    Ok(())
}
