//! The `bench` command: every listing measured end to end against a pre-rendered simulator,
//! each dump whole, and a report a machine can read. Figures are not asserted (speed is measured
//! in benchmarks, not timed tests); their presence and the records behind them are.

use std::process::Command;

use intercom_sim::{Role, Workspace};

use crate::helpers::*;

/// Far past what any of these runs takes (a few seconds): only a hang reaches it.
const RUN_LIMIT: std::time::Duration = std::time::Duration::from_secs(240);

#[test]
fn bench_measures_every_listing_and_dumps_each_whole() {
    let (seed, n) = (42, 2_500);
    let out = tempfile::tempdir().unwrap();
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["bench", "--contacts", "2500", "--seed", "42", "--sample-records", "600", "--latency-ms", "20"])
            .args(["--latency-pages", "4", "--json", "--out"])
            .arg(out.path()),
        RUN_LIMIT,
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["simulator"], "prerendered");
    assert!(report["prerendered_bytes"].as_u64().unwrap() > 2 * 2_500 * 1_000, "both shapes rendered: {report}");

    let ws = Workspace::new(seed, n);
    let expected = [
        ("contacts-cursor", "contacts", (0..n).map(|i| ws.contact_id(i)).collect::<Vec<_>>()),
        ("users-scroll", "users", ids_of_role(&ws, Role::User)),
        ("leads-scroll", "leads", ids_of_role(&ws, Role::Lead)),
        ("users-pages", "users", ids_of_role(&ws, Role::User)),
    ];
    let modes = report["modes"].as_array().unwrap();
    assert_eq!(modes.len(), expected.len());
    for (mode, (name, source, ids)) in modes.iter().zip(expected) {
        assert_eq!(mode["mode"], name);
        assert_eq!(mode["records"], ids.len() as u64, "{name}");
        for key in ["records_per_second", "mb_per_second", "single_thread_records_per_second", "walk_records_per_second"] {
            assert!(mode[key].as_f64().unwrap() > 0.0, "{name} {key}: {mode}");
        }
        let ratio = mode["records_per_second"].as_f64().unwrap() / mode["single_thread_records_per_second"].as_f64().unwrap();
        assert!((mode["vs_single_thread"].as_f64().unwrap() - ratio).abs() < 1e-9 * ratio.max(1.0));
        assert!(mode["peak_rss_bytes"].as_u64().unwrap() > 0);
        if !name.ends_with("-scroll") {
            assert_eq!(mode["spilled_bytes"], 0, "{name} pauses instead of spilling: {mode}");
            // The page list has up to 4 pages in flight when the budget fills, the cursor one.
            let (peak, budget, page) = (&mode["peak_buffered_bytes"], &mode["max_buffer_bytes"], &mode["largest_page_bytes"]);
            let in_flight = if name.ends_with("-pages") { 4 } else { 1 };
            assert!(peak.as_u64().unwrap() <= budget.as_u64().unwrap() + in_flight * page.as_u64().unwrap(), "{name}: {mode}");
        }
        // The dump the figures come from is whole: every id once.
        assert_exact_ids(&output_ids(&out.path().join(name), source), ids);
    }
    let latency = &report["latency"];
    assert_eq!((latency["latency_ms"].as_u64(), latency["records"].as_u64()), (Some(20), Some(600)));
    assert!((latency["bound_records_per_second"].as_f64().unwrap() - 7_500.0).abs() < 1e-6);
    assert!(!out.path().join(".bench-scratch").exists(), "the rendered records are removed");
}

#[test]
fn bench_prints_a_table_and_refuses_bad_options_at_once() {
    let out = tempfile::tempdir().unwrap();
    let binary = || Command::new(env!("CARGO_BIN_EXE_intercom-dump"));
    let output = output_within(
        binary()
            .args(["bench", "--contacts", "900", "--modes", "contacts-cursor", "--live-sim", "--sample-records", "300", "--out"])
            .arg(out.path()),
        RUN_LIMIT,
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8(output.stdout).unwrap();
    assert!(table.contains("contacts-cursor") && table.contains("records/s") && table.contains("(live)"), "{table}");
    let output = binary().args(["bench", "--modes", "cursor", "--out"]).arg(out.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("contacts-cursor"));
    // Refused before anything is rendered.
    let output = binary().args(["bench", "--parsers", "0", "--out"]).arg(out.path()).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--parsers"));
    assert!(!out.path().join(".bench-scratch").exists());
}

#[test]
fn bench_all_dumps_every_table_under_the_rate_limit_and_reports_its_pace() {
    let out = tempfile::tempdir().unwrap();
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["bench", "--contacts", "2000", "--modes", "all", "--long-lists", "5", "--latency-ms", "5", "--json", "--out"])
            .arg(out.path()),
        RUN_LIMIT,
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let all = &report["all"];
    let tables: Vec<(&str, u64)> = all["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["table"].as_str().unwrap(), t["records"].as_u64().unwrap()))
        .collect();
    assert_eq!(tables.len(), 10);
    assert_eq!(tables[0], ("contacts", 2_000));
    assert_eq!(tables[3], ("companies", 100));
    assert!(all["requests"].as_u64().unwrap() > 2_000 / 150, "{all}");
    assert_eq!(all["rate_limit_per_second"].as_f64(), Some(166.6));
    assert!(report.get("modes").is_none(), "no listing asked for");
    assert!(out.path().join("all/_workspace.json").exists());
    let output = output_within(
        Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["bench", "--modes", "all", "--parsers", "0", "--out"])
            .arg(out.path()),
        RUN_LIMIT,
    );
    assert_eq!(output.status.code(), Some(2), "refused before anything is rendered");
    assert!(!out.path().join(".bench-all-scratch").exists());
}

#[test]
fn bench_reports_the_bytes_on_the_wire_with_and_without_gzip() {
    let mut wire = Vec::new();
    for gzip in [false, true] {
        let out = tempfile::tempdir().unwrap();
        let output = output_within(
            Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
                .args(["bench", "--contacts", "1500", "--modes", "contacts-cursor", "--sample-records", "300", "--json", "--out"])
                .arg(out.path())
                .args(gzip.then_some("--gzip")),
            RUN_LIMIT,
        );
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let mode = &report["modes"][0];
        assert_eq!(mode["records"], 1_500);
        wire.push((mode["wire_bytes"].as_u64().unwrap(), mode["json_bytes"].as_u64().unwrap()));
    }
    let ((plain, json), (gzipped, json_again)) = (wire[0], wire[1]);
    assert_eq!(json, json_again);
    assert!(plain >= json, "without gzip the wire carries the JSON and its envelopes: {plain} of {json}");
    assert!(gzipped * 4 < json, "gzip sends a fraction of the JSON: {gzipped} of {json}");
}
