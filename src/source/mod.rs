//! What is dumped: one unit per source, holding everything about it that the rest of the code
//! asks (its endpoints and where a page keeps its records, the listings that serve it, its schema,
//! the key it is deduplicated on, its partition column and its custom-attribute model). The rest
//! of the code asks [`Source::spec`] instead of matching on the source: adding one (companies) is
//! one file here, one schema file and one simulator module (as companies are). The relation
//! tables a contacts dump can add (`contact_tags`, `contact_companies`) are in [`relation`].

mod companies;
mod contacts;
mod leads;
mod reference;
pub(crate) mod relation;
mod users;

use arrow::datatypes::SchemaRef;

use crate::config::{Mode, Source};
use crate::schema::DeclaredAttribute;
use crate::version::ApiVersion;

/// Where a page's envelope keeps its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// v2 lists: `data`, with `pages.next.starting_after`.
    Data,
    /// Paged the v1 way (v1 lists, the companies', the reference lists): the array under this
    /// key, with `scroll_param` or `pages.next`.
    V1(&'static str),
}

/// How the rows of a source are split into Hive-style directories with `--partition-by-role`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RolePartition {
    /// By the value of the `role` column.
    Column,
    /// Every row has the same role: one directory.
    Fixed(&'static str),
    /// The records have no role (companies): `--partition-by role` does not apply.
    None,
}

/// Builds a source's schema: with a typed column per declared custom attribute; `decode` for
/// the all-nullable schema the JSON decoder fills.
pub(crate) type SchemaFn = fn(&[DeclaredAttribute], bool) -> SchemaRef;

/// Everything about one source.
#[derive(Debug)]
pub(crate) struct SourceSpec {
    /// The output directory's name, and the source's name in messages.
    pub name: &'static str,
    /// The API version sent when none is asked for; the source is listed only under its family.
    pub default_version: ApiVersion,
    /// The list endpoint's path segments (cursor, page list or reference list).
    pub list_path: &'static [&'static str],
    /// Query pairs every list request carries (`model=company`).
    pub list_query: &'static [(&'static str, &'static str)],
    /// The scroll endpoint's path segments, for sources with one.
    pub scroll_path: Option<&'static [&'static str]>,
    /// The search endpoint's path segments (`POST`), for sources with one.
    pub search_path: Option<&'static [&'static str]>,
    pub envelope: Envelope,
    /// The listings that serve this source; the first is the default (`auto` chooses between the
    /// page list and the scroll where a source has both).
    pub modes: &'static [Mode],
    /// The object's name in messages (`contact (v2)`), and its schema.
    pub object: &'static str,
    pub schema: SchemaFn,
    /// The column that tells records apart (deduplication, completeness).
    pub key: &'static str,
    pub role_partition: RolePartition,
    /// The `model` of `GET /data_attributes` its custom attributes are declared under.
    pub attribute_model: Option<&'static str>,
    /// Whether custom attributes get typed columns unless told otherwise.
    pub typed_custom_attributes: bool,
    /// Whether the page list reaches every record under its cap (`auto` then takes it when the
    /// cap allows); the companies' leaves out those without users, so `auto` takes the scroll.
    pub page_list_whole: bool,
    /// Whether the page list takes the v1 filters and sorts (`--email`, `--sort`...).
    pub list_filters: bool,
    /// Whether `--incremental` can ask for what changed (search on `updated_at`); its full
    /// dumps then record the state an incremental run goes on from.
    pub incremental: bool,
}

impl Source {
    /// Everything about this source.
    pub(crate) fn spec(self) -> &'static SourceSpec {
        match self {
            Source::Contacts => &contacts::SPEC,
            Source::Users => &users::SPEC,
            Source::Leads => &leads::SPEC,
            Source::Companies => &companies::SPEC,
            Source::Tags => &reference::TAGS,
            Source::Segments => &reference::SEGMENTS,
            Source::Admins => &reference::ADMINS,
            Source::Teams => &reference::TEAMS,
            Source::ContactAttributes => &reference::CONTACT_ATTRIBUTES,
            Source::CompanyAttributes => &reference::COMPANY_ATTRIBUTES,
        }
    }
}

impl SourceSpec {
    /// Whether `mode` lists this source (`auto` does wherever a choice exists: the scroll or the
    /// page list, the cursor or the search).
    pub(crate) fn serves(&self, mode: Mode) -> bool {
        let has = |mode| self.modes.contains(&mode);
        let auto = (has(Mode::Scroll) && has(Mode::Pages)) || (has(Mode::Cursor) && has(Mode::Search));
        self.modes.contains(&mode) || (mode == Mode::Auto && auto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_source_is_listed_under_its_own_family_and_has_a_default_listing() {
        for source in <Source as clap::ValueEnum>::value_variants().iter().copied() {
            let spec = source.spec();
            assert_eq!(spec.name, source.name());
            assert!(!spec.modes.is_empty(), "{}", spec.name);
            assert_eq!(spec.scroll_path.is_some(), spec.modes.contains(&Mode::Scroll), "{}", spec.name);
            assert_eq!(spec.search_path.is_some(), spec.modes.contains(&Mode::Search), "{}", spec.name);
            assert!((spec.schema)(&[], false).field_with_name(spec.key).is_ok(), "{} has its key column", spec.name);
        }
    }
}
