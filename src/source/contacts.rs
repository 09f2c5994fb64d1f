//! v2 contacts (users and leads together): the cursor list `GET /contacts`, or `POST
//! /contacts/search` split into time windows walked at once.

use super::{Envelope, RolePartition, SourceSpec};
use crate::config::Mode;
use crate::schema::contact;
use crate::version::ApiVersion;

pub(super) static SPEC: SourceSpec = SourceSpec {
    name: "contacts",
    default_version: ApiVersion::LATEST_V2,
    list_path: &["contacts"],
    list_query: &[],
    scroll_path: None,
    search_path: Some(&["contacts", "search"]),
    envelope: Envelope::Data,
    modes: &[Mode::Cursor, Mode::Search],
    object: contact::CONTACT_V2,
    schema: contact::contact_v2_schema_with,
    key: "id",
    role_partition: RolePartition::Column,
    attribute_model: Some("contact"),
    page_list_whole: true,
    list_filters: false,
    incremental: true,
    typed_custom_attributes: true,
};
