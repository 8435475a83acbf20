//! Envelope encryption: a master key (behind [`KeyProvider`]) wraps per-day data keys kept in a
//! keyring file beside the database; data keys seal payloads and key the blind index.

pub mod blind_index;
pub mod keyring;
pub mod keys;
pub mod seal;

pub use blind_index::{BlindIndexKey, Token};
pub use keyring::{KeyName, Keyring};
pub use keys::{FileKeyProvider, KeyProvider, create_key_file};
pub use seal::{NonceSource, SealKey};

use zeroize::Zeroizing;

/// Fresh random bytes from the OS.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)?;
    Ok(out)
}

/// A 256-bit data key and the two subkeys derived from it (one for sealing, one for the blind
/// index), so one key in the keyring controls both and destroying it shreds both.
pub struct DataKey {
    pub seal: SealKey,
    pub blind: BlindIndexKey,
}

impl DataKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let seal = derive(bytes, b"custos/seal/v1");
        let blind = derive(bytes, b"custos/blind/v1");
        Self {
            seal: SealKey::new(&seal),
            blind: BlindIndexKey::new(&blind),
        }
    }
}

fn derive(key: &[u8; 32], label: &[u8]) -> Zeroizing<[u8; 32]> {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key size");
    mac.update(label);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}
