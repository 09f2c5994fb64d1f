//! v2 contacts (users and leads together), through the cursor list `GET /contacts`.

use super::{Envelope, RolePartition, SourceSpec};
use crate::config::Mode;
use crate::schema::contact;
use crate::version::ApiVersion;

pub(super) static SPEC: SourceSpec = SourceSpec {
    name: "contacts",
    default_version: ApiVersion::LATEST_V2,
    list_path: &["contacts"],
    scroll_path: None,
    envelope: Envelope::Data,
    modes: &[Mode::Cursor],
    object: contact::CONTACT_V2,
    schema: contact::contact_v2_schema_with,
    key: "id",
    role_partition: RolePartition::Column,
    attribute_model: "contact",
    typed_custom_attributes: true,
};
