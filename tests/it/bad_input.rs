//! Bad input and broken answers: each ends in a one-line error naming the problem and the fix,
//! the documented exit code, no panic, and nothing published.

use std::process::Command;

use intercom_sim::{FaultPlan, SimConfig};

use crate::helpers::*;

fn sim_with(rules: &[&str]) -> intercom_sim::SimHandle {
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
fn an_out_that_is_a_file_is_named_a_file() {
    let sim = simulator(90, 100);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    assert_refused(&dump_cli(&sim.base_url(), &file, &[]), 5, &["--out", "is a file, not a folder"], dir.path());
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory", "the file is untouched");
}

#[test]
fn an_earlier_dump_is_kept_without_overwrite() {
    let sim = simulator(90, 500);
    let out = tempfile::tempdir().unwrap();
    assert!(dump_cli(&sim.base_url(), out.path(), &[]).status.success());
    let manifest = std::fs::read(out.path().join("contacts/_manifest.json")).unwrap();
    let requests = sim.requests();
    let output = dump_cli(&sim.base_url(), out.path(), &[]);
    assert_eq!(output.status.code(), Some(5));
    assert_eq!(sim.requests(), requests, "refused before anything was asked of the API");
    assert!(String::from_utf8_lossy(&output.stderr).contains("--overwrite"));
    assert_eq!(std::fs::read(out.path().join("contacts/_manifest.json")).unwrap(), manifest, "the earlier dump is untouched");
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

/// A dump of 20,000 contacts whose files may not grow past 200 KB: writes fail as on a full disk.
/// `shell_prelude` runs before the binary (a `trap` to ignore SIGXFSZ, or nothing).
fn dump_under_a_file_size_limit(seed: u64, shell_prelude: &str) {
    let sim = simulator(seed, 20_000);
    let out = tempfile::tempdir().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!("{shell_prelude} ulimit -f 200; exec \"$0\" \"$@\""))
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
fn a_full_disk_is_a_clean_error() {
    // SIGXFSZ ignored by the shell, so the write returns an error instead of killing the process.
    dump_under_a_file_size_limit(91, "trap '' XFSZ;");
}

#[test]
fn bad_values_name_their_flag() {
    let out = tempfile::tempdir().unwrap();
    for (args, flag) in [
        (&["--compression", "zstd:99"][..], "--compression"),
        (&["--compression", "zstd:abc"][..], "\"abc\" is not a number"),
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

#[test]
fn a_token_file_with_a_byte_order_mark_or_blank_lines_is_read() {
    let sim = simulator(94, 200);
    let dir = tempfile::tempdir().unwrap();
    for body in [format!("\u{feff}{TOKEN}\n"), format!("\n\n  {TOKEN}  \r\n")] {
        let file = dir.path().join("token");
        std::fs::write(&file, body).unwrap();
        let out = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args(["dump", "--no-progress", "--base-url", &sim.base_url(), "--token-file"])
            .arg(&file)
            .arg("--out")
            .arg(out.path())
            .env_remove("INTERCOM_TOKEN")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    // An empty file is blamed on the file, not on INTERCOM_TOKEN.
    let file = dir.path().join("empty");
    std::fs::write(&file, "\u{feff}\n\n").unwrap();
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", "--base-url", &sim.base_url(), "--token-file"])
        .arg(&file)
        .arg("--out")
        .arg(out.path())
        .env_remove("INTERCOM_TOKEN")
        .output()
        .unwrap();
    assert_refused(&output, 2, &["--token-file", "holds no token"], out.path());
    assert!(!String::from_utf8_lossy(&output.stderr).contains("INTERCOM_TOKEN"));
}

#[test]
fn a_403_on_the_declared_attributes_says_how_to_do_without_them() {
    let server = crate::hostile_server::HostileServer::start(|_| {
        crate::hostile_server::Reply::json(
            403,
            &crate::hostile_server::error_body("api_plan_restricted", "Active subscription needed."),
        )
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[]);
    assert_refused(&output, 3, &["/data_attributes", "--no-typed-custom-attributes"], out.path());
}

#[test]
fn an_unwritable_summary_path_is_refused_before_the_run() {
    let sim = simulator(95, 200);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &["--summary-json", "/proc/no-such-dir/summary.json"]);
    assert_refused(&output, 2, &["--summary-json"], out.path());
    assert_eq!(sim.requests(), 0, "nothing was fetched");
}

#[test]
fn a_failed_page_is_named() {
    let sim = sim_with(&["500:1"]);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &["--max-retries", "1", "--no-typed-custom-attributes"]);
    assert_refused(&output, 4, &["fetching page 1 (the first)", "HTTP 500"], out.path());
}

#[test]
fn a_file_size_limit_is_reported_even_where_sigxfsz_is_not_ignored() {
    // No trap: the process itself turns the signal into a write error.
    dump_under_a_file_size_limit(96, "");
}
