//! Bad input and broken answers: each ends in a one-line error naming the problem and the fix,
//! the documented exit code, no panic, and nothing published.

use std::process::Command;

use intercom_dump::sim::{FaultPlan, SimConfig};

use crate::helpers::*;

fn sim_with(rules: &[&str]) -> intercom_dump::sim::SimHandle {
    let mut config = SimConfig::new(90, 3_000, TOKEN);
    config.faults = FaultPlan { seed: 1, rules: rules.iter().map(|r| r.parse().unwrap()).collect() };
    simulator_with(config)
}

#[test]
fn an_unwritable_out_is_refused() {
    let sim = simulator(90, 100);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let out = file.join("dump");
    assert_refused(&dump_cli(&sim.base_url(), &out, &[]), 5, &["--out"], &out);
}

#[test]
fn an_earlier_dump_is_kept_without_overwrite() {
    let sim = simulator(90, 500);
    let out = tempfile::tempdir().unwrap();
    assert!(dump_cli(&sim.base_url(), out.path(), &[]).status.success());
    let manifest = std::fs::read(out.path().join("_manifest.json")).unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &[]);
    assert_eq!(output.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--overwrite"));
    assert_eq!(std::fs::read(out.path().join("_manifest.json")).unwrap(), manifest, "the earlier dump is untouched");
}

#[test]
fn a_page_that_is_never_json_stops_after_the_retries() {
    let sim = sim_with(&["notjson:1"]);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &["--max-retries", "2", "--no-typed-custom-attributes"]);
    assert_refused(&output, 4, &["not a valid page", "3 attempts"], out.path());
}

#[test]
fn a_contact_without_an_id_stops_the_run() {
    let sim = sim_with(&["noid@3"]);
    let out = tempfile::tempdir().unwrap();
    assert_refused(&dump_cli(&sim.base_url(), out.path(), &[]), 6, &["no id"], out.path());
}

#[test]
fn a_full_disk_is_a_clean_error() {
    let sim = simulator(91, 20_000);
    let out = tempfile::tempdir().unwrap();
    // Files may not grow past 200 KB: writes fail as on a full disk (SIGXFSZ ignored, so the
    // write returns an error instead of killing the process).
    let output = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 200; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", "--format", "arrow", "--base-url", &sim.base_url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert_refused(&output, 5, &["cannot write", "free space"], out.path());
    let staged: Vec<_> = walk(out.path());
    assert!(staged.is_empty(), "the failed run removed its staging: {staged:?}");
}

#[test]
fn bad_values_name_their_flag() {
    let out = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (&["--compression", "zstd:99"][..], "--compression"),
        (&["--rate-limit", "0"][..], "--rate-limit"),
        (&["--max-file-rows", "0"][..], "--max-file-rows"),
        (&["--page-concurrency", "0"][..], "--page-concurrency"),
        (&["--base-url", "ftp://example.com"][..], "base URL"),
        (&["--base-url", "http://api.example.com"][..], "--allow-insecure-http"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["dump", "--no-progress", "--out"])
            .arg(out.path())
            .args(if args[0] == "--base-url" { &[][..] } else { &["--base-url", "http://127.0.0.1:9"][..] })
            .args(args)
            .env("INTERCOM_TOKEN", "x")
            .output()
            .unwrap();
        assert_refused(&output, 2, &[flag], out.path());
    }
}

#[test]
fn refusals_that_retrying_cannot_fix_stop_at_once() {
    for (rule, code, word) in [("403:1", 3, "403"), ("406:1", 4, "Accept"), ("401:1", 3, "INTERCOM_TOKEN")] {
        let sim = sim_with(&[rule]);
        let out = tempfile::tempdir().unwrap();
        assert_refused(&dump_cli(&sim.base_url(), out.path(), &[]), code, &[word], out.path());
        assert_eq!(sim.requests() + sim.state().faults_injected(), 1, "{rule}: one request, no retry");
    }
}
