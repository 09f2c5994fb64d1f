//! The `Intercom-Version` values the simulator accepts, as Intercom lists them: `1.0` to `1.4`,
//! `2.0` to `2.17`, and `Preview` (once called `Unstable`). Only the family matters to routing:
//! the v1 endpoints answer 1.x alone. The client states the same list on its side; a test of the
//! dump crate checks that the two agree.

/// The versions Intercom accepts, newest of each family last.
pub const V1_VERSIONS: &[&str] = &["1.0", "1.1", "1.2", "1.3", "1.4"];
pub const V2_VERSIONS: &[&str] = &[
    "2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6", "2.7", "2.8", "2.9", "2.10", "2.11", "2.12", "2.13", "2.14", "2.15", "2.16",
    "2.17",
];

/// Which API a request's version selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V1,
    V2,
}

impl Family {
    /// The family of `header`, or `None` for a version Intercom does not know.
    pub fn of(header: &str) -> Option<Family> {
        if header.eq_ignore_ascii_case("preview") || header.eq_ignore_ascii_case("unstable") {
            Some(Family::V2)
        } else if V1_VERSIONS.contains(&header) {
            Some(Family::V1)
        } else if V2_VERSIONS.contains(&header) {
            Some(Family::V2)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(Family::of("1.4"), Some(Family::V1));
        assert_eq!(Family::of("2.17"), Some(Family::V2));
        assert_eq!(Family::of("Unstable"), Some(Family::V2));
        for unknown in ["2.18", "1.5", "02.1", "2.01", "", "v2"] {
            assert_eq!(Family::of(unknown), None, "{unknown}");
        }
    }
}
