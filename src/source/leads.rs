//! v1 leads (API 1.x): v1 calls them contacts, so `GET /contacts/scroll` and the page list
//! `GET /contacts`, whose records sit under `contacts`.

use super::{Envelope, RolePartition, SourceSpec};
use crate::config::Mode;
use crate::schema::v1;
use crate::version::ApiVersion;

pub(super) static SPEC: SourceSpec = SourceSpec {
    name: "leads",
    default_version: ApiVersion::LATEST_V1,
    list_path: &["contacts"],
    list_query: &[],
    scroll_path: Some(&["contacts", "scroll"]),
    search_path: None,
    envelope: Envelope::V1("contacts"),
    modes: &[Mode::Scroll, Mode::Pages],
    object: v1::LEAD_V1,
    schema: v1::v1_schema_with,
    key: "id",
    role_partition: RolePartition::Fixed("lead"),
    attribute_model: Some("contact"),
    page_list_whole: true,
    list_filters: true,
    incremental: false,
    typed_custom_attributes: false,
};
