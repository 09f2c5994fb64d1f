//! `--source all`: every table of the workspace in one run, each published with its own
//! manifest, and `_workspace.json` tying the runs together only when every table is published.

use intercom_sim::SimConfig;
use serde_json::Value;

use crate::helpers::*;

#[test]
fn every_table_lands_in_one_folder_and_the_record_ties_their_manifests_together() {
    let (seed, n) = (4_242, 3_500);
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.long_lists_percent = 3;
    let ws = sim_config.workspace();
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let summary_path = out.path().join("summary.json");
    let output = dump_cli(&sim.base_url(), out.path(), &["--source", "all", "--summary-json", summary_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("all 10 tables"), "{printed}");

    let tags: u64 = (0..n).map(|i| ws.contact_tags(i).len() as u64).sum();
    let companies_of_contacts: u64 = (0..n).map(|i| ws.contact_companies(i).len() as u64).sum();
    let expected = [
        ("contacts", n),
        ("contact_tags", tags),
        ("contact_companies", companies_of_contacts),
        ("companies", ws.companies),
        ("tags", intercom_sim::relations::TAGS),
    ];
    for (table, records) in expected {
        let manifest = read_manifest(out.path(), table);
        assert_eq!((manifest["records"].as_u64(), manifest["complete"].as_bool()), (Some(records), Some(true)), "{table}");
        assert_eq!(read_parquet(&parquet_files(&out.path().join(table))).num_rows() as u64, records, "{table}");
    }
    assert_exact_ids(&output_ids(out.path(), "companies"), (0..ws.companies).map(|k| ws.company_id(k)));

    let record: Value = serde_json::from_slice(&std::fs::read(out.path().join("_workspace.json")).unwrap()).unwrap();
    let tables = record["tables"].as_array().unwrap();
    let names: Vec<&str> = tables.iter().map(|t| t["table"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "contacts",
            "contact_tags",
            "contact_companies",
            "companies",
            "tags",
            "segments",
            "admins",
            "teams",
            "contact_attributes",
            "company_attributes"
        ]
    );
    for table in tables {
        let manifest: Value =
            serde_json::from_slice(&std::fs::read(out.path().join(table["manifest"].as_str().unwrap())).unwrap()).unwrap();
        assert_eq!(manifest["run_id"], table["run_id"], "the record names each table's own run");
        assert_eq!(manifest["records"], table["records"]);
    }
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary_path).unwrap()).unwrap();
    assert_eq!(summary["tables"].as_array().unwrap().len(), 8, "a summary per source, relations inside the contacts'");
    assert_eq!(summary["tables"][0]["mode"], "search", "auto takes the search for a list of 24 pages");
    assert!(summary["requests"].as_u64().unwrap() > 20);
}

#[test]
fn a_table_that_fails_leaves_the_others_published_and_no_record() {
    let sim = simulator(5, 400);
    let out = tempfile::tempdir().unwrap();
    // An earlier dump's record and a teams table this run may not replace (no --overwrite).
    std::fs::write(out.path().join("_workspace.json"), b"{\"tables\": []}").unwrap();
    std::fs::create_dir_all(out.path().join("teams")).unwrap();
    std::fs::write(out.path().join("teams/part-00000.parquet"), b"someone's").unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &["--source", "all"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "the failed table's code: {stderr}");
    let error = stderr.lines().last().unwrap();
    assert!(error.starts_with("error: teams: ") && error.contains("--overwrite"), "{stderr}");
    assert!(error.contains("no _workspace.json ties them together"), "{stderr}");
    assert!(!out.path().join("_workspace.json").exists(), "no record claims tables this run did not publish");
    assert!(out.path().join("contacts/_SUCCESS").exists() && out.path().join("contact_tags/_SUCCESS").exists());
    assert_eq!(std::fs::read(out.path().join("teams/part-00000.parquet")).unwrap(), b"someone's");

    let refused = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), refused.path(), &["--source", "all", "--mode", "cursor"]);
    assert_refused(&output, 2, &["--source all", "--mode"], refused.path());
    let output = dump_cli(&sim.base_url(), refused.path(), &["--source", "all", "--resume"]);
    assert_refused(&output, 2, &["--resume"], refused.path());

    // `check` says whether every table would take the options, and what the contacts would meet.
    let output = output_within(
        std::process::Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["check", "--base-url", &sim.base_url(), "--source", "all", "--out"])
            .arg(refused.path())
            .env("INTERCOM_TOKEN", TOKEN),
        std::time::Duration::from_secs(120),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && stdout.contains("--source all: every table's options are valid"), "{stdout}");
    assert!(stdout.contains("contacts: 400 announced"), "{stdout}");
}

#[test]
fn a_signal_stops_every_table_and_names_what_was_published_before_it() {
    let mut sim_config = SimConfig::new(9, 30_000, TOKEN);
    sim_config.faults = intercom_sim::FaultPlan { seed: 9, rules: vec!["latency=40:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", "--source", "all", "--base-url", &sim.base_url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reference lists take a request each: they are published long before the contacts.
    let started = std::time::Instant::now();
    while !out.path().join("teams/_SUCCESS").exists() && started.elapsed() < std::time::Duration::from_secs(20) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(std::process::Command::new("kill").args(["-s", "INT", &child.id().to_string()]).status().unwrap().success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let error = stderr.lines().last().unwrap();
    assert!(error.starts_with("error: contacts: stopped by SIGINT") && error.contains("teams"), "{stderr}");
    assert!(!out.path().join("contacts").exists() && !out.path().join("contact_tags").exists(), "the contacts never published");
    assert!(!out.path().join("_workspace.json").exists());
    let staging: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".intercom-dump-staging"))
        .collect();
    assert!(staging.is_empty(), "every table's staging removed: {staging:?}");
}
