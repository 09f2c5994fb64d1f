//! The reference objects (API 2.x): the workspace's tags, segments, admins and teams, and the
//! contact and company data attributes. Each is a small unpaged list, one request (`--mode
//! list`), a table of its own the other tables join to by id.

use super::{Envelope, RolePartition, SchemaFn, SourceSpec};
use crate::config::Mode;
use crate::schema::reference;
use crate::version::ApiVersion;

/// A reference list at `path` (with `query`), its records under `key`.
const fn list(
    name: &'static str,
    path: &'static [&'static str],
    query: &'static [(&'static str, &'static str)],
    key: &'static str,
    object: &'static str,
    schema: SchemaFn,
    id: &'static str,
) -> SourceSpec {
    SourceSpec {
        name,
        default_version: ApiVersion::LATEST_V2,
        list_path: path,
        list_query: query,
        scroll_path: None,
        search_path: None,
        envelope: Envelope::V1(key),
        modes: &[Mode::List],
        object,
        schema,
        key: id,
        role_partition: RolePartition::None,
        attribute_model: None,
        typed_custom_attributes: false,
        page_list_whole: true,
        list_filters: false,
        incremental: false,
    }
}

pub(super) static TAGS: SourceSpec = list("tags", &["tags"], &[], "data", reference::TAG, reference::tag_schema, "id");
pub(super) static SEGMENTS: SourceSpec =
    list("segments", &["segments"], &[], "segments", reference::SEGMENT, reference::segment_schema, "id");
pub(super) static ADMINS: SourceSpec =
    list("admins", &["admins"], &[], "admins", reference::ADMIN, reference::admin_schema, "id");
pub(super) static TEAMS: SourceSpec = list("teams", &["teams"], &[], "teams", reference::TEAM, reference::team_schema, "id");
pub(super) static CONTACT_ATTRIBUTES: SourceSpec = list(
    "contact_attributes",
    &["data_attributes"],
    &[("model", "contact")],
    "data",
    reference::DATA_ATTRIBUTE,
    reference::data_attribute_schema,
    "full_name",
);
pub(super) static COMPANY_ATTRIBUTES: SourceSpec = list(
    "company_attributes",
    &["data_attributes"],
    &[("model", "company")],
    "data",
    reference::DATA_ATTRIBUTE,
    reference::data_attribute_schema,
    "full_name",
);
