//! v1 users (API 1.x): the scroll `GET /users/scroll`, or the page list `GET /users` when it
//! reaches every record or a filter asks for it.

use super::{Envelope, RolePartition, SourceSpec};
use crate::config::Mode;
use crate::schema::v1;
use crate::version::ApiVersion;

pub(super) static SPEC: SourceSpec = SourceSpec {
    name: "users",
    default_version: ApiVersion::LATEST_V1,
    list_path: &["users"],
    list_query: &[],
    scroll_path: Some(&["users", "scroll"]),
    search_path: None,
    envelope: Envelope::V1("users"),
    modes: &[Mode::Scroll, Mode::Pages],
    object: v1::USER_V1,
    schema: v1::v1_schema_with,
    key: "id",
    role_partition: RolePartition::Fixed("user"),
    attribute_model: Some("contact"),
    page_list_whole: true,
    list_filters: true,
    incremental: false,
    typed_custom_attributes: false,
};
