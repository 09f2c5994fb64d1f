//! The client and the simulator each state the API's facts (page sizes, caps, versions) on their
//! own side: the simulator depends on nothing of the dump crate. Here they must agree.

use intercom_dump::config::{MAX_PER_PAGE_V1, MAX_PER_PAGE_V2, SCROLL_PAGE_SIZE, V1_PAGE_CAP};
use intercom_dump::version::ApiVersion;
use intercom_sim::version::{Family, V1_VERSIONS, V2_VERSIONS};

#[test]
fn page_sizes_and_caps_agree() {
    assert_eq!(u64::from(MAX_PER_PAGE_V2), intercom_sim::server::MAX_PER_PAGE_V2);
    assert_eq!(u64::from(MAX_PER_PAGE_V1), intercom_sim::page_list::MAX_PER_PAGE_V1);
    assert_eq!(V1_PAGE_CAP, intercom_sim::page_list::DEFAULT_PAGE_CAP);
    assert_eq!(SCROLL_PAGE_SIZE, intercom_sim::scroll::SCROLL_PAGE_SIZE);
}

#[test]
fn versions_agree() {
    for (versions, v1) in [(V1_VERSIONS, true), (V2_VERSIONS, false)] {
        for text in versions {
            let version: ApiVersion = text.parse().unwrap_or_else(|e| panic!("the client knows {text}: {e}"));
            assert_eq!(version.is_v1(), v1, "{text}");
            assert_eq!(Family::of(&version.to_string()), Some(if v1 { Family::V1 } else { Family::V2 }));
        }
    }
    // The versions sent by default are ones the simulator accepts (the newest v2 is not the
    // default: 2.16 is, until 2.17 is known to serve the same).
    assert_eq!(ApiVersion::LATEST_V1.to_string(), *V1_VERSIONS.last().unwrap());
    assert!(V2_VERSIONS.contains(&ApiVersion::LATEST_V2.to_string().as_str()));
    for unknown in ["1.5", "2.18", "3.0"] {
        assert!(unknown.parse::<ApiVersion>().is_err() && Family::of(unknown).is_none(), "{unknown}");
    }
    assert_eq!(Family::of(&ApiVersion::Preview.to_string()), Some(Family::V2));
}
