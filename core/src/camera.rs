use std::fmt;

use serde::{Deserialize, Serialize};

/// A camera's stable identifier as configured by the agency: 1–64 characters of
/// `A-Z a-z 0-9 - _ .`, so it is safe in file names, metrics labels and URLs.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CameraId(String);

/// Why a text is not a camera id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CameraIdError {
    /// No characters at all.
    #[error("camera id is empty")]
    Empty,
    /// More than 64 characters (the count).
    #[error("camera id is {0} characters long; at most 64 are allowed")]
    TooLong(usize),
    #[error(
        "camera id {id:?} contains {bad:?}; only letters, digits, '-', '_' and '.' are allowed"
    )]
    /// A character outside the allowed set.
    BadChar {
        /// The id as given.
        id: String,
        /// Its first character outside letters, digits, `-`, `_` and `.`.
        bad: char,
    },
}

impl CameraId {
    /// Checks `id`: 1–64 characters, letters, digits, `-`, `_` and `.` only.
    pub fn new(id: impl Into<String>) -> Result<Self, CameraIdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(CameraIdError::Empty);
        }
        let len = id.chars().count();
        if len > 64 {
            return Err(CameraIdError::TooLong(len));
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(CameraIdError::BadChar { id, bad });
        }
        Ok(Self(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for CameraId {
    type Error = CameraIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<CameraId> for String {
    fn from(id: CameraId) -> Self {
        id.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_ids() {
        assert_eq!(
            CameraId::new("north-gate_2.a").unwrap().as_str(),
            "north-gate_2.a"
        );
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(CameraId::new(""), Err(CameraIdError::Empty));
        assert_eq!(
            CameraId::new("a".repeat(65)),
            Err(CameraIdError::TooLong(65))
        );
        assert!(matches!(
            CameraId::new("cam 1"),
            Err(CameraIdError::BadChar { bad: ' ', .. })
        ));
        assert!(matches!(
            CameraId::new("cam/1"),
            Err(CameraIdError::BadChar { bad: '/', .. })
        ));
    }
}
