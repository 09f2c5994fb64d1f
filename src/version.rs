//! Intercom API versions (`Intercom-Version`): which exist, and which family a version is of.
//! Shared by the client, which sends one, and the simulator, which routes on it.

use std::fmt;
use std::str::FromStr;

/// One of the versions Intercom accepts: `1.0`–`1.4`, `2.0`–`2.17`, `Preview` (once `Unstable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    V1(u8),
    V2(u8),
    Preview,
}

impl ApiVersion {
    pub const LATEST_V1: ApiVersion = ApiVersion::V1(4);
    pub const LATEST_V2: ApiVersion = ApiVersion::V2(16);

    /// The v1 endpoints (scroll and page lists of users and leads) exist only under 1.x.
    pub fn is_v1(self) -> bool {
        matches!(self, ApiVersion::V1(_))
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiVersion::V1(minor) => write!(f, "1.{minor}"),
            ApiVersion::V2(minor) => write!(f, "2.{minor}"),
            ApiVersion::Preview => f.write_str("Preview"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Intercom API version {0:?}: use 1.0 to 1.4, 2.0 to 2.17, or Preview")]
pub struct UnknownVersion(pub String);

impl FromStr for ApiVersion {
    type Err = UnknownVersion;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownVersion(s.to_string());
        if s.eq_ignore_ascii_case("preview") || s.eq_ignore_ascii_case("unstable") {
            return Ok(ApiVersion::Preview);
        }
        let (major, minor) = s.split_once('.').ok_or_else(unknown)?;
        let minor: u8 = minor.parse().map_err(|_| unknown())?;
        if minor.to_string() != minor_text(s) {
            return Err(unknown());
        }
        match (major, minor) {
            ("1", 0..=4) => Ok(ApiVersion::V1(minor)),
            ("2", 0..=17) => Ok(ApiVersion::V2(minor)),
            _ => Err(unknown()),
        }
    }
}

fn minor_text(s: &str) -> &str {
    s.split_once('.').map(|(_, m)| m).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_version_and_nothing_else() {
        for v in ["1.0", "1.4", "2.0", "2.14", "2.16", "2.17", "Preview", "Unstable"] {
            assert!(v.parse::<ApiVersion>().is_ok(), "{v}");
        }
        for v in ["1.5", "2.18", "3.0", "2", "2.014", "", "latest", "2.x"] {
            assert!(v.parse::<ApiVersion>().is_err(), "{v}");
        }
        assert_eq!("2.14".parse::<ApiVersion>().unwrap().to_string(), "2.14");
        assert!("1.3".parse::<ApiVersion>().unwrap().is_v1());
    }
}
