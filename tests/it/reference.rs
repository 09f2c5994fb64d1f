//! The reference lists end to end: each dumped into its own table, row for row what the
//! simulator holds; and a reference list that turns out to be paged, or that answers records
//! without their key, is refused with nothing published.

use intercom_dump::config::Source;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::hostile_server::{HostileServer, Reply};

/// The ids (or `key`s) a reference answer holds under `records`.
fn keys(answer: &Value, records: &str, key: &str) -> Vec<String> {
    answer[records].as_array().unwrap().iter().map(|r| r[key].as_str().unwrap().to_string()).collect()
}

fn column(out: &std::path::Path, table: &str, name: &str) -> Vec<String> {
    let batch = read_parquet(&parquet_files(&out.join(table)));
    use arrow::array::AsArray;
    batch.column_by_name(name).unwrap().as_string::<i32>().iter().map(|v| v.unwrap().to_string()).collect()
}

#[test]
fn every_reference_list_lands_in_its_own_table_as_the_api_holds_it() {
    let (seed, n) = (701, 2_000);
    let sim = simulator(seed, n);
    let ws = sim.state().workspace();
    let out = tempfile::tempdir().unwrap();
    let mut expected: Vec<(Source, &str, Vec<String>)> = vec![
        (Source::Tags, "id", keys(&ws.tags_json(), "data", "id")),
        (Source::Segments, "id", keys(&ws.segments_json(), "segments", "id")),
        (Source::Admins, "id", keys(&ws.admins_json(), "admins", "id")),
        (Source::Teams, "id", keys(&ws.teams_json(), "teams", "id")),
    ];
    let attributes = |model| keys(&sim.state().data_attributes_json(Some(model)), "data", "full_name");
    expected.push((Source::ContactAttributes, "full_name", attributes("contact")));
    expected.push((Source::CompanyAttributes, "full_name", attributes("company")));
    for (source, key, keys) in expected {
        let mut config = config_for(&sim, out.path(), TOKEN);
        config.source = source;
        let summary = dump(config).unwrap();
        assert_eq!((summary.mode, summary.records, summary.api.requests), ("list", keys.len() as u64, 1), "{}", source.name());
        assert_eq!(column(out.path(), source.name(), key), keys, "{}: the API's records, in its order", source.name());
        let manifest = read_manifest(out.path(), source.name());
        assert_eq!(manifest["records"].as_u64(), Some(keys.len() as u64));
    }
    assert!(column(out.path(), "company_attributes", "full_name").contains(&"custom_attributes.seats".to_string()));
    // The tables join: every company's tags are tags the workspace lists.
    let tags = column(out.path(), "tags", "id");
    for k in 0..ws.companies {
        let company = serde_json::to_value(ws.company(k, 0)).unwrap();
        for tag in company["tags"]["tags"].as_array().unwrap() {
            assert!(tags.contains(&tag["id"].as_str().unwrap().to_string()), "company {k}'s tag {tag} is listed");
        }
    }
}

#[test]
fn a_paged_or_keyless_reference_list_publishes_nothing() {
    let server = HostileServer::start(|request| match request.path.as_str() {
        "/tags" => Reply::json(
            200,
            &json!({"type": "list", "data": [{"type": "tag", "id": "1", "name": "a"}], "pages": {"next": "http://x/tags?page=2"}}),
        ),
        _ => Reply::json(200, &json!({"type": "team.list", "teams": [{"type": "team", "name": "no id"}]})),
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--source", "tags"]);
    assert_refused(&output, 4, &["paged", "report it"], out.path());
    let output = dump_cli(&server.url(), out.path(), &["--source", "teams"]);
    assert_refused(&output, 6, &["have no id"], out.path());
}

#[test]
fn the_command_line_dumps_companies_and_every_reference_table_into_one_lake_folder() {
    let (seed, n) = (702, 4_000);
    let sim = simulator(seed, n);
    let ws = sim.state().workspace();
    let out = tempfile::tempdir().unwrap();
    let sources = ["companies", "tags", "segments", "admins", "teams", "contact-attributes", "company-attributes"];
    for source in sources {
        let output = dump_cli(&sim.base_url(), out.path(), &["--source", source]);
        assert!(output.status.success(), "{source}: {}", String::from_utf8_lossy(&output.stderr));
    }
    for table in ["companies", "tags", "segments", "admins", "teams", "contact_attributes", "company_attributes"] {
        assert!(out.path().join(table).join("_SUCCESS").exists(), "{table} is published in its own folder");
        let manifest = read_manifest(out.path(), table);
        assert_eq!(manifest["source"].as_str(), Some(table));
    }
    assert_eq!(read_manifest(out.path(), "companies")["records"].as_u64(), Some(ws.companies));
    assert_eq!(read_manifest(out.path(), "company_attributes")["key"].as_str(), Some("full_name"));
    // A reference list takes no listing but its own.
    let output = dump_cli(&sim.base_url(), out.path(), &["--source", "tags", "--mode", "scroll"]);
    assert_refused(&output, 2, &["--mode scroll cannot list tags"], &out.path().join("nothing-here"));
    let output = dump_cli(&sim.base_url(), out.path(), &["--source", "teams", "--typed-custom-attributes"]);
    assert_refused(&output, 2, &["--typed-custom-attributes does not apply to teams"], &out.path().join("nothing-here"));
}
