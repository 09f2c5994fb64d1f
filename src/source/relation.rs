//! The relation tables: which tags and which companies each contact has, complete. A relation
//! is not listed on its own: its rows come from the contacts a dump writes (each contact's
//! inline list, at most ten entries) and, for a contact whose list has more, from that contact's
//! own list endpoint (`GET /contacts/{id}/tags`, unpaged; `GET /contacts/{id}/companies`, paged).
//! Each relation is one unit here: its table, the contact column it starts from, its endpoint,
//! its schema and its key.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// One relation table.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RelationSpec {
    /// The table's directory, and its name in messages.
    pub table: &'static str,
    /// The contact column holding the inline list (`{type, data: [{type, id, url}], url,
    /// total_count, has_more}`).
    pub inline_column: &'static str,
    /// The column naming the other end of the link.
    pub item_column: &'static str,
    /// The last segment of the contact's own list: `/contacts/{id}/<path>`.
    pub path: &'static str,
    /// Entries a page of the contact's own list asks for, when that list is paged.
    pub per_page: Option<u32>,
    /// The columns that tell rows apart, as the manifest names them.
    pub key: &'static str,
}

pub(crate) const CONTACT_TAGS: RelationSpec = RelationSpec {
    table: "contact_tags",
    inline_column: "tags",
    item_column: "tag_id",
    path: "tags",
    per_page: None,
    key: "contact_id, tag_id",
};

pub(crate) const CONTACT_COMPANIES: RelationSpec = RelationSpec {
    table: "contact_companies",
    inline_column: "companies",
    item_column: "company_id",
    path: "companies",
    // The most a page serves: the fewest requests for a long list.
    per_page: Some(150),
    key: "contact_id, company_id",
};

/// Every relation a contacts dump can write, in the order they are published.
pub(crate) const RELATIONS: [&RelationSpec; 2] = [&CONTACT_TAGS, &CONTACT_COMPANIES];

impl RelationSpec {
    /// `contact_id`, the other end's id, and the link's place in the contact's list as the API
    /// orders it (from 0): all the API says about a link. What a tag or a company is, is in its
    /// own table.
    pub(crate) fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("contact_id", DataType::Utf8, false),
            Field::new(self.item_column, DataType::Utf8, false),
            Field::new("position", DataType::Int32, false),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_relation_keys_on_its_two_ends() {
        for relation in RELATIONS {
            let schema = relation.schema();
            for column in relation.key.split(", ") {
                assert!(schema.field_with_name(column).is_ok(), "{}: {column}", relation.table);
            }
            let contact = crate::schema::contact::contact_v2_schema();
            assert!(contact.field_with_name(relation.inline_column).is_ok(), "{}", relation.table);
        }
    }
}
