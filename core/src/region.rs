//! The plate regions Custos knows: where a plate's design and formats come from.

use serde::{Deserialize, Serialize};

/// A plate region. The evaluation manifests, the synthetic plates and the format priors all
/// name regions by [`Region::as_str`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    /// United States (and Canada's look-alike formats).
    Us,
    /// Europe.
    Eu,
    /// Brazil: the old grey plates and Mercosur.
    Br,
}

/// A region name other than `us`, `eu` or `br`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown region {0:?}: expected us, eu or br")]
pub struct UnknownRegion(pub String);

impl Region {
    /// Every region, in a fixed order.
    pub const ALL: [Region; 3] = [Region::Us, Region::Eu, Region::Br];

    /// The ground-truth name: "us", "eu" or "br".
    pub fn as_str(self) -> &'static str {
        match self {
            Region::Us => "us",
            Region::Eu => "eu",
            Region::Br => "br",
        }
    }
}

impl std::str::FromStr for Region {
    type Err = UnknownRegion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRegion(s.to_owned()))
    }
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for r in Region::ALL {
            assert_eq!(r.as_str().parse::<Region>(), Ok(r));
        }
        assert_eq!("xx".parse::<Region>(), Err(UnknownRegion("xx".into())));
    }
}
