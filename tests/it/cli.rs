//! The `intercom-dump` binary as a user runs it: exit codes and one-line errors.

use std::process::Command;

use crate::helpers::*;

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
}

#[test]
fn wrong_token_exits_3_with_one_line() {
    let sim = simulator(2, 500);
    let out = tempfile::tempdir().unwrap();
    let output = binary()
        .args(["dump", "--no-progress", "--base-url", &sim.base_url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", "definitely-wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(lines[0].starts_with("error: ") && lines[0].contains("INTERCOM_TOKEN"), "{stderr}");
    assert!(!stderr.contains("definitely-wrong"));
    assert_eq!(sim.requests(), 1);
}

#[test]
fn logs_and_the_final_error_come_as_json_lines_when_asked() {
    let mut sim_config = intercom_sim::SimConfig::new(3, 500, TOKEN);
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["503@1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let run = |token: &str| {
        binary()
            .args(["dump", "--no-progress", "--log-format", "json", "--overwrite", "--base-url", &sim.base_url(), "--out"])
            .arg(out.path())
            .env("INTERCOM_TOKEN", token)
            .output()
            .unwrap()
    };
    let output = run(TOKEN);
    assert!(output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(
        lines.iter().any(|l| l["level"] == "WARN" && l["fields"]["message"].as_str().is_some()),
        "the retry, logged: {stderr}"
    );
    let output = run("definitely-wrong");
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let last: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    assert_eq!((last["level"].as_str(), last["exit_code"].as_u64()), (Some("ERROR"), Some(3)), "{stderr}");
    assert!(last["message"].as_str().unwrap().contains("INTERCOM_TOKEN") && !stderr.contains("definitely-wrong"));
}

#[test]
fn missing_token_and_bad_values_exit_2() {
    let out = tempfile::tempdir().unwrap();
    let output = binary().args(["dump", "--out"]).arg(out.path()).env_remove("INTERCOM_TOKEN").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("INTERCOM_TOKEN"));
    let output = binary()
        .args(["dump", "--per-page", "500", "--base-url", "http://127.0.0.1:9", "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", "x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--per-page"));
}

#[test]
fn demo_dumps_the_embedded_simulators_whole_workspace() {
    let out = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        // Twice: the demo replaces its own earlier output.
        let output = binary().args(["demo", "--contacts", "3000", "--no-progress", "--out"]).arg(out.path()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        let contacts = stdout.lines().find(|l| l.starts_with("contacts ")).unwrap_or_default();
        assert!(contacts.contains(" 3000 ") && contacts.ends_with("3000 announced"), "{stdout}");
        assert!(stdout.contains("all 10 tables") && stdout.contains("_workspace.json ties them together"), "{stdout}");
    }
    let batch = read_parquet(&parquet_files(&out.path().join("contacts")));
    assert_eq!(batch.num_rows(), 3000);
    for table in ["contact_tags", "contact_companies", "companies", "tags", "segments", "admins", "teams"] {
        assert_eq!(read_manifest(out.path(), table)["complete"], true, "{table}");
    }
    assert!(out.path().join("_workspace.json").exists());
    // One source when asked.
    let one = tempfile::tempdir().unwrap();
    let output = binary()
        .args(["demo", "--contacts", "500", "--no-progress", "--source", "contacts", "--out"])
        .arg(one.path())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("dumped 500 contacts"));
    assert!(!one.path().join("companies").exists() && !one.path().join("_workspace.json").exists());
}

#[test]
fn every_source_and_mode_runs_from_the_cli() {
    let out = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 5] = [
        ("users", &[], "(scroll)"),
        ("leads", &["--mode", "scroll"], "(scroll)"),
        ("leads", &["--mode", "auto"], "(pages)"),
        ("users", &["--mode", "pages"], "(pages)"),
        ("users", &["--created-since", "2"], "(pages)"),
    ];
    for (source, mode, listed) in cases {
        let output = binary()
            .args(["demo", "--contacts", "2000", "--no-progress", "--source", source, "--out"])
            .arg(out.path())
            .args(mode)
            .output()
            .unwrap();
        assert!(output.status.success(), "{source} {mode:?}: {}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains(&format!("{source} {listed}")) && stdout.contains("exactly-once"), "{stdout}");
        assert!(!parquet_files(&out.path().join(source)).is_empty());
    }
}

#[test]
fn impossible_listings_exit_2_and_say_what_works() {
    let out = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["--source", "users", "--mode", "cursor"], "--mode cursor cannot list users"),
        (&["--source", "contacts", "--mode", "scroll"], "--mode scroll cannot list contacts"),
        (&["--source", "users", "--api-version", "2.14"], "--api-version 1.4"),
        (&["--source", "users", "--mode", "scroll", "--email", "a@b.c"], "need the page list"),
    ];
    for (args, message) in cases {
        let output = binary()
            .args(["dump", "--base-url", "http://127.0.0.1:9", "--out"])
            .arg(out.path())
            .args(args)
            .env("INTERCOM_TOKEN", "x")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(message) && stderr.lines().count() == 1, "{args:?}: {stderr}");
    }
    // Past the paging cap: said after the first page, before anything is written.
    let output = binary()
        .args(["demo", "--contacts", "15000", "--no-progress", "--source", "users", "--mode", "pages", "--out"])
        .arg(out.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("use --mode scroll"));
}

#[test]
fn the_token_never_appears_in_logs_output_or_files_even_at_trace_level() {
    let token = "tok_Zq81x7SECRET0c1b2a3";
    let sim = simulator_with(intercom_sim::SimConfig::new(70, 2_500, token));
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let out = dir.path().join("out");
    let summary = dir.path().join("summary.json");
    for source in ["contacts", "users"] {
        let output = binary()
            .args(["dump", "--no-progress", "--overwrite", "--format", "both", "--source", source, "--base-url", &sim.base_url()])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--out")
            .arg(&out)
            .arg("--summary-json")
            .arg(&summary)
            .env("RUST_LOG", "trace")
            .env_remove("INTERCOM_TOKEN")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(output.stderr.len() > 10_000, "trace logging was on: {} bytes", output.stderr.len());
        for (name, text) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
            assert!(!contains(text, token.as_bytes()), "the token is in {name}");
        }
    }
    // A wrong token: the error names the problem, not the token.
    std::fs::write(&token_file, "tok_wrong_SECRET_99\n").unwrap();
    let output = binary()
        .args(["dump", "--no-progress", "--base-url", &sim.base_url(), "--token-file"])
        .arg(&token_file)
        .arg("--out")
        .arg(dir.path().join("other"))
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(!contains(&output.stderr, b"tok_wrong_SECRET_99") && !contains(&output.stdout, b"tok_wrong_SECRET_99"));
    std::fs::remove_file(&token_file).unwrap();
    for file in walk(dir.path()) {
        assert!(!contains(&std::fs::read(&file).unwrap(), token.as_bytes()), "the token is in {}", file.display());
    }
    // An unreadable token file is a configuration error.
    let output = binary().args(["dump", "--token-file", "/nonexistent/token", "--out"]).arg(&out).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--token-file"));
}

/// Staging directories in `out` (the runs' own, named `.intercom-dump-staging-*`).
fn staging_dirs(out: &std::path::Path) -> std::collections::HashSet<std::path::PathBuf> {
    std::fs::read_dir(out)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".intercom-dump-staging"))
        .map(|e| e.path())
        .collect()
}

/// Finished Parquet parts staged (`--format both`: in `parquet/`) by a run other than those
/// whose staging is in `earlier`.
fn staged_parts(out: &std::path::Path, earlier: &std::collections::HashSet<std::path::PathBuf>) -> usize {
    staging_dirs(out)
        .difference(earlier)
        .flat_map(|dir| std::fs::read_dir(dir.join("contacts/parquet")).into_iter().flatten().flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-") && e.path().extension().is_some_and(|x| x == "parquet"))
        .count()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_killed_dump_leaves_nothing_that_looks_complete_and_a_rerun_succeeds() {
    let mut sim_config = intercom_sim::SimConfig::new(71, 6_000, TOKEN);
    // Slow pages, so the kill lands mid-run.
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=40:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let dump_command = || {
        let mut command = binary();
        command
            .args(["dump", "--no-progress", "--format", "both", "--per-page", "50", "--max-file-rows", "1000", "--base-url"])
            .arg(sim.base_url())
            .arg("--out")
            .arg(out.path())
            .env("INTERCOM_TOKEN", TOKEN)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        command
    };
    // Killed before anything is written, then once one part and once three parts sit staged
    // (1,000 rows a part: with 6,000 contacts the run is then mid-write, not finishing).
    for staged in [0, 1, 3] {
        let earlier = staging_dirs(out.path());
        let mut child = dump_command().spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while staged_parts(out.path(), &earlier) < staged {
            assert!(std::time::Instant::now() < deadline, "no {staged} staged parts in 60 s");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(child.try_wait().unwrap().is_none(), "the run was still going when killed ({staged} parts staged)");
        // SIGKILL: no destructor, no cleanup.
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(staged_parts(out.path(), &earlier) < 6, "the kill landed before the last part was staged");
        let published = out.path().join("contacts/_SUCCESS").exists() || out.path().join("contacts/_manifest.json").exists();
        assert!(!published, "killed with {staged} parts staged");
        assert!(!out.path().join("contacts").exists(), "no part under its final name, killed with {staged} parts staged");
    }
    let status = dump_command().status().unwrap();
    assert!(status.success());
    assert!(out.path().join("contacts/_SUCCESS").exists());
    assert_eq!(output_ids(out.path(), "contacts").len(), 6_000);
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".intercom-dump-staging"))
        .collect();
    assert!(leftovers.is_empty(), "the killed runs' staging is cleaned up by the next run");
}

#[test]
fn a_killed_cursor_dump_resumes_from_its_checkpoint() {
    let n = 20_000;
    let mut sim_config = intercom_sim::SimConfig::new(72, n, TOKEN);
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=25:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let flags = ["--format", "both", "--max-file-rows", "3000", "--checkpoint-rows", "3000"];
    let dump_command = |resume: bool| resumable_dump(&sim.base_url(), out.path(), &flags, resume);
    // Killed once it has checkpointed a few parts, long before the end.
    kill_once_checkpointed(dump_command(false).spawn().unwrap(), out.path(), 3, std::time::Duration::from_secs(30));
    assert!(!out.path().join("contacts/_SUCCESS").exists());
    let requests_before = sim.requests();
    assert!(requests_before < 100, "killed early: {requests_before} requests");

    assert!(dump_command(true).status().unwrap().success());
    let resumed_requests = sim.requests() - requests_before;
    assert!(resumed_requests < n.div_ceil(150), "it went on from the checkpoint: {resumed_requests} requests");
    let ws = intercom_sim::Workspace::new(72, n);
    assert_exact_ids(&output_ids(out.path(), "contacts"), (0..n).map(|i| ws.contact_id(i)));
    let manifest = read_manifest(out.path(), "contacts");
    assert_eq!(manifest["records"], n);
    let arrow_rows: u64 = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["format"] == "arrow")
        .map(|f| f["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(arrow_rows, n, "the Arrow parts too hold every row once");
}

#[test]
fn demo_replaces_its_own_dump_but_not_a_real_one() {
    let out = tempfile::tempdir().unwrap();
    let demo = || binary().args(["demo", "--contacts", "500", "--no-progress", "--out"]).arg(out.path()).output().unwrap();
    assert!(demo().status.success());
    assert!(demo().status.success(), "its own dump, replaced");
    // The same folder, as if a real workspace had been dumped there.
    let manifest_path = out.path().join("contacts/_manifest.json");
    let mut manifest = read_manifest(out.path(), "contacts");
    manifest["base_url"] = "https://api.intercom.io/".into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let output = demo();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("https://api.intercom.io/") && stderr.contains("another --out"), "{stderr}");
    assert_eq!(read_manifest(out.path(), "contacts")["base_url"], "https://api.intercom.io/", "the real dump is untouched");
}

#[test]
fn every_dump_option_comes_from_the_environment_too_and_a_flag_wins() {
    let sim = simulator(8, 1_000);
    let out = tempfile::tempdir().unwrap();
    let run = |flags: &[&str]| {
        binary()
            .args(["dump", "--no-progress", "--base-url", &sim.base_url()])
            .args(flags)
            .env("INTERCOM_TOKEN", TOKEN)
            .env("INTERCOM_DUMP_OUT", out.path())
            .env("INTERCOM_DUMP_FORMAT", "arrow")
            .env("INTERCOM_DUMP_MAX_FILE_ROWS", "400")
            .env("INTERCOM_DUMP_OVERWRITE", "true")
            .output()
            .unwrap()
    };
    let output = run(&[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let arrow = walk(out.path()).into_iter().filter(|p| p.extension().is_some_and(|e| e == "arrow")).count();
    assert_eq!((arrow, parquet_files(out.path()).len()), (3, 0), "arrow parts of 400 rows, from the environment");
    let output = run(&["--format", "parquet"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(parquet_files(out.path()).len(), 3, "the flag over the environment");
    let help = String::from_utf8(binary().args(["dump", "--help"]).output().unwrap().stdout).unwrap();
    assert!(help.contains("[env: INTERCOM_DUMP_SEARCH_CONCURRENCY=]"), "{help}");
}

#[test]
fn help_groups_the_flags_and_completions_and_a_manual_page_are_printed() {
    let help = String::from_utf8(binary().args(["dump", "--help"]).output().unwrap().stdout).unwrap();
    for heading in ["What to list:", "API and network:", "Output:", "Files:", "Tuning:", "Examples:", "INTERCOM_TOKEN"] {
        assert!(help.contains(heading), "{heading} in {help}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let output = binary().args(["completions", shell]).output().unwrap();
        assert!(output.status.success() && String::from_utf8_lossy(&output.stdout).contains("search-concurrency"), "{shell}");
    }
    let man = binary().arg("man").output().unwrap();
    assert!(man.status.success() && String::from_utf8_lossy(&man.stdout).contains(".SH NAME"));
}

#[test]
fn a_config_file_gives_options_under_the_environment_and_the_flags() {
    let sim = simulator(9, 1_000);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let config = dir.path().join("intercom-dump.toml");
    let toml = format!("out = {:?}\nformat = \"arrow\"\nmax-file-rows = 250\noverwrite = true\n", out.display().to_string());
    std::fs::write(&config, toml).unwrap();
    let run = |flags: &[&str], env: &[(&str, &str)]| {
        let mut command = binary();
        command.args(["dump", "--no-progress", "--config"]).arg(&config).args(["--base-url", &sim.base_url()]).args(flags);
        command.env("INTERCOM_TOKEN", TOKEN).envs(env.iter().copied()).output().unwrap()
    };
    let arrow_parts = || walk(&out).into_iter().filter(|p| p.extension().is_some_and(|e| e == "arrow")).count();
    assert!(run(&[], &[]).status.success());
    assert_eq!(arrow_parts(), 4, "arrow parts of 250 rows, from the file");
    assert!(run(&[], &[("INTERCOM_DUMP_MAX_FILE_ROWS", "500")]).status.success());
    assert_eq!(arrow_parts(), 2, "the environment over the file");
    assert!(run(&["--max-file-rows", "1000"], &[("INTERCOM_DUMP_MAX_FILE_ROWS", "500")]).status.success());
    assert_eq!(arrow_parts(), 1, "the flag over both");
    std::fs::write(&config, "shoe-size = 9\n").unwrap();
    let output = run(&[], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("error: --config") && stderr.contains("shoe-size") && stderr.lines().count() == 1, "{stderr}");
}

#[test]
fn check_says_what_a_dump_would_meet_and_do_without_dumping() {
    let mut sim_config = intercom_sim::SimConfig::new(10, 5_000, TOKEN);
    // 50 ms a request: a cursor of 34 pages takes 1.7 s; the search keeps the rate limit busy.
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=50:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    let check = |token: &str, flags: &[&str]| {
        binary()
            .args(["check", "--base-url", &sim.base_url(), "--out"])
            .arg(out.path())
            .args(flags)
            .env("INTERCOM_TOKEN", token)
            .output()
            .unwrap()
    };
    let output = check(TOKEN, &["--mode", "auto"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for words in ["contacts: 5000 announced", "custom attributes declared: 7", "writable", "by the search (34 requests"] {
        assert!(stdout.contains(words), "{words:?} in {stdout}");
    }
    let output = check(TOKEN, &["--mode", "cursor"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("by the cursor (34 requests") && stdout.contains("about 1."), "{stdout}");
    assert!(sim.requests() < 10, "a few requests, not a dump: {}", sim.requests());
    assert!(walk(out.path()).is_empty(), "nothing written");
    assert_eq!(check("definitely-wrong", &[]).status.code(), Some(3));
}

#[test]
fn sizes_take_units_and_help_shows_them() {
    let help = String::from_utf8(binary().args(["dump", "--help"]).output().unwrap().stdout).unwrap();
    assert!(help.contains("[default: 512MiB]") && help.contains("[default: 16MiB]"), "{help}");
    let sim = simulator(7, 1_000);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &["--max-file-bytes", "100KiB", "--max-buffer-bytes", "1MiB"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(parquet_files(out.path()).len() > 1, "100 KiB parts roll");
    for (flag, value) in [("--max-file-bytes", "12 parsecs"), ("--max-buffer-bytes", "1.5GB")] {
        let output = dump_cli(&sim.base_url(), out.path(), &[flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(flag) && stderr.contains("is not a size: use bytes"), "{stderr}");
    }
}

#[test]
fn demo_follows_a_fault_plan_file_and_refuses_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"seed": 5, "rules": [{"kind": "503", "probability": 0.1}, {"kind": "truncate", "at": [4]}, {"kind": "reset", "at": [6]}]}"#,
    )
    .unwrap();
    let (out, summary) = (dir.path().join("out"), dir.path().join("summary.json"));
    let output = binary()
        // One source: a cut companies scroll would wait a minute for its lock (the demo's
        // simulator keeps Intercom's 60 s expiry).
        .args(["demo", "--contacts", "3000", "--no-progress", "--source", "contacts", "--fault-plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .arg("--summary-json")
        .arg(&summary)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert!(summary["api"]["retries"].as_u64().unwrap() >= 2, "the truncated and the reset answers were retried: {summary}");
    let ws = intercom_sim::Workspace::new(42, 3_000);
    assert_exact_ids(&output_ids(&out, "contacts"), (0..3_000).map(|i| ws.contact_id(i)));

    // A plan the simulator cannot follow: refused at once, one line naming the file and the rule.
    std::fs::write(&plan, r#"{"rules": [{"kind": "502", "at": [1]}, {"kind": "latency=fast", "probability": 1}]}"#).unwrap();
    let refused = dir.path().join("refused");
    let output = binary().args(["demo", "--no-progress", "--fault-plan"]).arg(&plan).arg("--out").arg(&refused).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("plan.json") && stderr.contains("rule 2") && stderr.contains("latency=MS"), "{stderr}");
    assert!(!refused.exists(), "nothing written");
}
