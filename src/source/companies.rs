//! Companies (API 2.x): the scroll `GET /companies/scroll` by default (the only listing that
//! reaches every company), or the page list `GET /companies`, which leaves out the companies
//! without users and reaches at most 10,000. The page's records sit under `data`, paged like
//! the v1 lists (`scroll_param`, or a `pages.next` URL).

use super::{Envelope, RolePartition, SourceSpec};
use crate::config::Mode;
use crate::schema::company;
use crate::version::ApiVersion;

pub(super) static SPEC: SourceSpec = SourceSpec {
    name: "companies",
    default_version: ApiVersion::LATEST_V2,
    list_path: &["companies"],
    list_query: &[],
    scroll_path: Some(&["companies", "scroll"]),
    search_path: None,
    envelope: Envelope::V1("data"),
    modes: &[Mode::Scroll, Mode::Pages],
    object: company::COMPANY_V2,
    schema: company::company_schema_with,
    key: "id",
    role_partition: RolePartition::None,
    attribute_model: Some("company"),
    typed_custom_attributes: true,
    page_list_whole: false,
    list_filters: false,
    incremental: false,
};
