//! Whole or not at all, whatever the server says: hand-made servers that end a listing early,
//! repeat cursors and records, echo the token, answer 429 forever or never stop a body; two runs
//! into one `--out`; an overwrite whose publication fails; signals. Each through the binary.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::hostile_server::*;

const NO_ATTRIBUTES: &str = "--no-typed-custom-attributes";

fn manifest(out: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(out.join("contacts/_manifest.json")).unwrap()).unwrap()
}

/// The ids written, as a sorted list.
fn written(out: &Path) -> Vec<String> {
    let mut ids = output_ids(out, "contacts");
    ids.sort();
    ids
}

#[test]
fn an_empty_page_that_hands_out_a_cursor_is_followed() {
    let server = cursor_listing(vec![
        ("", cursor_page(&ids(0..150), 300, Some("p2"))),
        ("p2", cursor_page(&[], 300, Some("p3"))),
        ("p3", cursor_page(&ids(150..300), 300, None)),
    ]);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(written(out.path()), ids(0..300));
    let manifest = manifest(out.path());
    assert_eq!((manifest["records"].as_u64(), manifest["complete"].as_bool()), (Some(300), Some(true)));
    assert_eq!(manifest["announced"], json!({"min": 300, "max": 300}));
}

#[test]
fn a_listing_that_ends_before_its_count_publishes_nothing() {
    // The second page has no `pages` at all, the shape of a proxy's truncated answer.
    let mut cut = cursor_page(&ids(150..200), 1_000, None);
    cut.as_object_mut().unwrap().remove("pages");
    // `next` with a page number but no cursor: nothing to follow it with.
    let mut no_cursor = cursor_page(&ids(150..200), 1_000, None);
    no_cursor["pages"]["next"] = json!({"page": 2});
    for (name, second) in
        [("next null", cursor_page(&ids(150..200), 1_000, None)), ("no pages", cut), ("next without a cursor", no_cursor)]
    {
        let server = cursor_listing(vec![("", cursor_page(&ids(0..150), 1_000, Some("p2"))), ("p2", second)]);
        let out = tempfile::tempdir().unwrap();
        let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES]);
        assert_refused(&output, 4, &["announced at least 1000", "delivered 200", "--allow-incomplete"], out.path());
        assert!(walk(out.path()).is_empty(), "{name}: nothing left behind");
    }
}

#[test]
fn allow_incomplete_publishes_the_shortfall_in_the_manifest() {
    let server = cursor_listing(vec![
        ("", cursor_page(&ids(0..150), 2_000, Some("p2"))),
        ("p2", cursor_page(&ids(150..300), 2_000, None)),
    ]);
    let out = tempfile::tempdir().unwrap();
    let summary = out.path().join("summary.json");
    let dump_out = out.path().join("dump");
    let output =
        dump_cli(&server.url(), &dump_out, &[NO_ATTRIBUTES, "--allow-incomplete", "--summary-json", summary.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(dump_out.join("contacts/_SUCCESS").exists());
    let manifest = manifest(&dump_out);
    assert_eq!((manifest["records"].as_u64(), manifest["complete"].as_bool()), (Some(300), Some(false)));
    assert_eq!(manifest["announced"]["min"].as_u64(), Some(2_000));
    let summary: Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    assert_eq!(summary["complete"].as_bool(), Some(false));
}

#[test]
fn a_repeated_cursor_or_a_cycle_stops_the_run_naming_the_cursor() {
    for (name, pages) in [
        (
            "same cursor",
            vec![("", cursor_page(&ids(0..150), 1_000, Some("AAA"))), ("AAA", cursor_page(&ids(150..300), 1_000, Some("AAA")))],
        ),
        (
            "cycle",
            vec![
                ("", cursor_page(&ids(0..150), 1_000, Some("AAA"))),
                ("AAA", cursor_page(&ids(150..300), 1_000, Some("BBB"))),
                ("BBB", cursor_page(&ids(300..450), 1_000, Some("AAA"))),
            ],
        ),
    ] {
        let server = cursor_listing(pages);
        let out = tempfile::tempdir().unwrap();
        let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES]);
        assert_refused(&output, 4, &["cursor it had handed out before", "(AAA)"], out.path());
        assert!(server.requests() <= 4, "{name}: stopped at the repeat, {} requests", server.requests());
    }
}

#[test]
fn the_same_records_under_new_cursors_stop_the_run() {
    // Every cursor is new, every page the same 150 contacts: a loop no cursor check can see.
    let server = HostileServer::start(|request| {
        let n: u64 = request.param("starting_after").map_or(0, |c| c.trim_start_matches('c').parse().unwrap());
        Reply::json(200, &cursor_page(&ids(0..150), 1_000, Some(&format!("c{}", n + 1))))
    });
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES]);
    assert_refused(&output, 4, &["all written already", "repeating itself"], out.path());
    assert!(server.requests() < 200, "{} requests", server.requests());
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn a_contact_on_two_pages_is_written_once() {
    let mut second = ids(150..300);
    second[0] = "c00042".into();
    second.push("c00150".into());
    let server = cursor_listing(vec![("", cursor_page(&ids(0..150), 300, Some("p2"))), ("p2", cursor_page(&second, 300, None))]);
    let out = tempfile::tempdir().unwrap();
    let summary = out.path().join("summary.json");
    let dump_out = out.path().join("dump");
    let output = dump_cli(&server.url(), &dump_out, &[NO_ATTRIBUTES, "--summary-json", summary.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(written(&dump_out), ids(0..300));
    let summary: Value = serde_json::from_slice(&std::fs::read(summary).unwrap()).unwrap();
    assert_eq!(summary["duplicates_dropped"].as_u64(), Some(1));
    assert_eq!(manifest(&dump_out)["duplicates_dropped"].as_u64(), Some(1));
}

/// A v1 page list of `per_page` 60 whose pages hold `sizes` users each, announcing `total`, each
/// page but the last pointing to the next.
fn page_list(sizes: Vec<usize>, total: u64) -> HostileServer {
    HostileServer::start(move |request| {
        let page: usize = request.param("page").unwrap_or("1").parse().unwrap();
        let start: usize = sizes[..page - 1].iter().sum();
        let users: Vec<Value> = ids(start..start + sizes[page - 1]).iter().map(|id| json!({"type": "user", "id": id})).collect();
        let next = (page < sizes.len()).then(|| format!("http://x/users?page={}", page + 1));
        let pages = json!({"type": "pages", "next": next, "page": page, "per_page": 60, "total_pages": total.div_ceil(60)});
        Reply::json(200, &json!({"type": "user.list", "total_count": total, "users": users, "pages": pages}))
    })
}

#[test]
fn a_page_list_is_checked_against_its_count_both_ways() {
    let v1 = ["--source", "users", "--mode", "pages", NO_ATTRIBUTES];
    // The count says 540 but the pages go on to 1,000: followed to the end, then refused as excess.
    let server = page_list([vec![60; 16], vec![40]].concat(), 540);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &v1);
    assert_refused(&output, 4, &["announced at most 540", "delivered 1000"], out.path());
    // One short page mid-list: 943 of 1,000.
    let mut sizes = [vec![60; 16], vec![40]].concat();
    sizes[5] = 3;
    let server = page_list(sizes, 1_000);
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &v1);
    assert_refused(&output, 4, &["announced at least 1000", "delivered 943"], out.path());
}

#[test]
fn a_scroll_that_never_ends_stops_the_run() {
    let server = HostileServer::start(|request| {
        let users: Vec<Value> = ids(0..100).iter().map(|id| json!({"type": "user", "id": id})).collect();
        let _ = request;
        Reply::json(200, &json!({"type": "user.list", "users": users, "scroll_param": "fixed-param"}))
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--source", "users", NO_ATTRIBUTES]);
    assert_refused(&output, 4, &["repeating itself"], out.path());
    assert!(server.requests() < 200, "{} requests", server.requests());
}

#[test]
fn the_token_never_leaves_whatever_the_server_echoes() {
    // Every answer echoes the token back: in error bodies of every status, and in the records.
    for status in [400, 401, 403, 404, 429, 500, 503] {
        let server = HostileServer::start(move |request| {
            let echo = request.headers.get("authorization").cloned().unwrap_or_default();
            match request.param("starting_after") {
                None => {
                    let mut page = cursor_page(&ids(0..3), 3, Some("p2"));
                    page["data"][0]["name"] = json!(echo);
                    page["data"][1]["custom_attributes"] = json!({"note": echo});
                    Reply::json(200, &page)
                }
                Some(_) => Reply::json(status, &error_body("echo", &format!("your header was {echo}")))
                    .with_header("Retry-After", "0")
                    .with_header("X-Echo", &echo),
            }
        });
        let out = tempfile::tempdir().unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
            .args([
                "dump",
                "--no-progress",
                NO_ATTRIBUTES,
                "--max-retries",
                "1",
                "--max-retry-elapsed",
                "3",
                "--allow-incomplete",
            ])
            .args(["--base-url", &server.url(), "--out"])
            .arg(out.path())
            .env("INTERCOM_TOKEN", TOKEN)
            .env("RUST_LOG", "trace")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{status}");
        if matches!(status, 400 | 404 | 500) {
            assert!(stderr.contains("your header was Bearer [REDACTED]"), "{status}: the echo shows, redacted: {stderr}");
        }
        assert!(!stderr.contains(TOKEN) && !String::from_utf8_lossy(&output.stdout).contains(TOKEN), "{status}: {stderr}");
        assert_no_token_under(out.path());
    }
}

/// No file under `dir` holds the token, in any form of its bytes.
fn assert_no_token_under(dir: &Path) {
    for file in walk(dir) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(memchr::memmem::find(&bytes, TOKEN.as_bytes()).is_none(), "{}", file.display());
    }
}

#[test]
fn records_that_echo_the_token_are_written_without_it() {
    let server = HostileServer::start(|request| {
        let echo = request.headers.get("authorization").cloned().unwrap_or_default();
        let mut page = cursor_page(&ids(0..3), 3, None);
        page["data"][0]["name"] = json!(echo);
        Reply::json(200, &page)
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES, "--format", "both"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let batch = read_parquet(&parquet_files(&out.path().join("contacts")));
    let names = batch.column_by_name("name").unwrap();
    let names = arrow::array::AsArray::as_string::<i32>(names.as_ref());
    assert_eq!(names.value(0), "Bearer [REDACTED]");
    assert_no_token_under(out.path());
}

#[test]
fn a_second_run_into_the_same_out_is_refused_and_the_first_publishes() {
    // The first run is slow: every page waits half a second.
    let server = HostileServer::start(|request| {
        std::thread::sleep(Duration::from_millis(500));
        match request.param("starting_after") {
            None => Reply::json(200, &cursor_page(&ids(0..150), 300, Some("p2"))),
            Some(_) => Reply::json(200, &cursor_page(&ids(150..300), 300, None)),
        }
    });
    let out = tempfile::tempdir().unwrap();
    let first = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", NO_ATTRIBUTES, "--base-url", &server.url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", TOKEN)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let second = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES, "--overwrite"]);
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("another intercom-dump run is dumping this source") && stderr.contains("pid"), "{stderr}");
    let markers = ["contacts/_SUCCESS", "contacts/_manifest.json"];
    assert!(markers.iter().all(|m| out.path().join(m).exists()), "the first run's dump stands");
    assert_eq!(written(out.path()), ids(0..300));
}

#[test]
fn a_failed_overwrite_leaves_the_old_dump_whole() {
    // Slow pages: the second run's staging is there long enough to be tampered with.
    let mut sim_config = intercom_sim::SimConfig::new(93, 400, TOKEN);
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec!["latency=200:1".parse().unwrap()] };
    let sim = simulator_with(sim_config);
    let out = tempfile::tempdir().unwrap();
    assert!(dump_cli(&sim.base_url(), out.path(), &[]).status.success());
    let contents = |dir: &Path| -> Vec<(std::path::PathBuf, Vec<u8>)> {
        walk(dir)
            .into_iter()
            .filter(|p| !p.ends_with(".intercom-dump-contacts.lock"))
            .map(|p| (p.clone(), std::fs::read(p).unwrap()))
            .collect()
    };
    let before = contents(out.path());
    // The new manifest cannot be written: its temporary name in the run's staged directory is
    // taken by a directory, put there while the run lists.
    let second = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", "--overwrite", "--base-url", &sim.base_url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let staged = loop {
        let staging = std::fs::read_dir(out.path())
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(".intercom-dump-staging"));
        if let Some(staging) = staging {
            break staging.path().join("contacts");
        }
        assert!(Instant::now() < deadline, "no staging came");
        std::thread::sleep(Duration::from_millis(2));
    };
    std::fs::create_dir_all(staged.join("._manifest.json.inprogress/x")).unwrap();
    let output = second.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("left as it was"), "{stderr}");
    assert_eq!(before, contents(out.path()), "data and markers as they were, and nothing else");
}

#[test]
fn a_429_forever_ends_within_the_retry_budget() {
    let server = HostileServer::start(|_| Reply::json(429, &error_body("rate_limit_exceeded", "Exceeded rate limit")));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES, "--max-retries", "2", "--max-retry-elapsed", "10"]);
    assert_refused(&output, 4, &["--max-retry-elapsed"], out.path());
    assert!(started.elapsed() < Duration::from_secs(15), "{:?}", started.elapsed());
}

#[test]
fn a_body_that_never_ends_is_cut_at_the_limit() {
    let server = HostileServer::start(|_| Reply::Endless);
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES, "--max-body-bytes", "8000000"]);
    assert_refused(&output, 4, &["--max-body-bytes"], out.path());
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
}

#[test]
fn json_nested_past_any_reason_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(40_000), "]".repeat(40_000));
    let body = format!(r#"{{"type":"list","data":[{{"id":"c1","role":"user","tags":{deep}}}],"total_count":1,"pages":{{}}}}"#);
    let server = HostileServer::start(move |_| Reply::bytes(200, body.clone().into_bytes()));
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES, "--max-retries", "0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(matches!(output.status.code(), Some(4 | 6)), "{stderr}");
    assert!(stderr.contains("error: ") && !stderr.contains("overflow"), "{stderr}");
    assert!(walk(out.path()).is_empty(), "nothing left behind");
}

#[test]
fn gzip_is_asked_for_and_read() {
    let server = HostileServer::start(|request| {
        let accepts = request.headers.get("accept-encoding").cloned().unwrap_or_default();
        assert!(accepts.contains("gzip") && request.method == "GET", "{accepts}");
        let body = serde_json::to_vec(&cursor_page(&ids(0..150), 150, None)).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &body).unwrap();
        Reply::bytes(200, encoder.finish().unwrap()).with_header("Content-Encoding", "gzip")
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &[NO_ATTRIBUTES]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(written(out.path()), ids(0..150));
}

fn signal_mid_run(signal: &str, code: i32) {
    let server = HostileServer::start(|request| {
        std::thread::sleep(Duration::from_millis(200));
        let n: usize = request.param("starting_after").map_or(0, |c| c.parse().unwrap());
        Reply::json(200, &cursor_page(&ids(n * 150..n * 150 + 150), 150_000, Some(&(n + 1).to_string())))
    });
    let out = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", NO_ATTRIBUTES, "--base-url", &server.url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", TOKEN)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(!walk(out.path()).is_empty(), "the run is staging");
    assert!(Command::new("kill").args(["-s", signal, &child.id().to_string()]).status().unwrap().success());
    let output: Output = child.wait_with_output().unwrap();
    assert_refused(&output, code, &[&format!("stopped by SIG{signal}"), "nothing was published"], out.path());
    assert!(walk(out.path()).is_empty(), "{signal}: staging removed: {:?}", walk(out.path()));
}

#[test]
fn sigint_and_sigterm_stop_cleanly() {
    signal_mid_run("INT", 130);
    signal_mid_run("TERM", 143);
}

#[test]
fn odd_values_cost_their_field_not_the_run() {
    // Wrong types for every kind of column, an id sent as a number, and text that is not UTF-8
    // or holds half a surrogate pair, in known fields, custom attributes and unknown fields.
    let records = [
        r#"{"type":"contact","id":"c01","role":"user","unsubscribed_from_emails":"true"}"#,
        r#"{"type":"contact","id":"c02","role":"user","has_hard_bounced":1}"#,
        r#"{"type":"contact","id":"c03","role":"user","created_at":"1700000000"}"#,
        r#"{"type":"contact","id":"c04","role":"user","owner_id":"abc"}"#,
        r#"{"type":"contact","id":"c05","role":"user","owner_id":1180591620717411303424}"#,
        r#"{"type":"contact","id":6,"role":"lead"}"#,
        r#"{"type":"contact","id":"c07","role":"user","location":"Dublin"}"#,
        r#"{"type":"contact","id":"c08","role":"user","name":"a\ud800b"}"#,
        r#"{"type":"contact","id":"c09","role":"user","custom_attributes":{"note":"x\udfffy"}}"#,
        r#"{"type":"contact","id":"c10","role":"user","name":"Zo~"}"#,
        r#"{"type":"contact","id":"c11","role":"user","brand_new":"\ud800"}"#,
        r#"{"type":"contact","id":"c12","role":"user","email":"a@b.c"}"#,
    ];
    let mut body = format!(r#"{{"type":"list","total_count":12,"pages":{{}},"data":[{}]}}"#, records.join(",")).into_bytes();
    // One byte that is not UTF-8 in c10's name, where the `~` stands.
    let at = body.windows(3).position(|w| w == b"Zo~").unwrap() + 2;
    body[at] = 0xff;
    let server = HostileServer::start(move |_| Reply::bytes(200, body.clone()));
    let out = tempfile::tempdir().unwrap();
    let summary_path = out.path().join("summary.json");
    let dump_out = out.path().join("dump");
    let output = dump_cli(&server.url(), &dump_out, &[NO_ATTRIBUTES, "--summary-json", summary_path.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let batch = read_parquet(&parquet_files(&dump_out.join("contacts")));
    assert_eq!(batch.num_rows(), 12);
    // Every record rebuilds from its row as it was served, the odd values included.
    // Half a surrogate pair, or a byte that is not UTF-8, reads as U+FFFD.
    let served: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(&r.replace("\\ud800", "\\ufffd").replace("\\udfff", "\\ufffd")).unwrap())
        .collect();
    for (row, expected) in served.iter().enumerate() {
        let mut expected = expected.clone();
        if row == 9 {
            expected["name"] = json!("Zo\u{FFFD}");
        }
        assert_eq!(without_nulls(rebuild_row(&batch, row)), without_nulls(expected), "record {}", row + 1);
    }
    let ids = arrow::array::AsArray::as_string::<i32>(batch.column_by_name("id").unwrap().as_ref()).value(5).to_string();
    assert_eq!(ids, "6", "an id sent as a number is written as its text");
    let summary: Value = serde_json::from_slice(&std::fs::read(summary_path).unwrap()).unwrap();
    let fields = &summary["repairs"]["fields"];
    for (field, count) in
        [("unsubscribed_from_emails", 1), ("has_hard_bounced", 1), ("created_at", 1), ("owner_id", 2), ("id", 1), ("location", 1)]
    {
        assert_eq!(fields[field].as_u64(), Some(count), "{field}: {summary}");
    }
    assert_eq!(summary["repairs"]["replaced_text"].as_u64(), Some(4), "{summary}");
}

#[test]
fn the_simulator_answers_gzip_when_asked_and_the_dump_reads_it() {
    let mut config = intercom_sim::SimConfig::new(97, 2_000, TOKEN);
    config.gzip = true;
    let sim = simulator_with(config);
    // A client that asks gets gzip; one that does not, plain JSON.
    let ask = |encoding: Option<&str>| {
        use std::io::{Read, Write};
        let address = sim.base_url().trim_start_matches("http://").trim_end_matches('/').to_string();
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        let encoding = encoding.map(|e| format!("Accept-Encoding: {e}\r\n")).unwrap_or_default();
        let request = format!(
            "GET /contacts?per_page=150 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nAccept: application/json\r\n{encoding}Connection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let head = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        String::from_utf8_lossy(&answer[..head]).to_ascii_lowercase()
    };
    assert!(ask(Some("gzip")).contains("content-encoding: gzip"));
    assert!(!ask(None).contains("content-encoding"));
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&sim.base_url(), out.path(), &[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(output_ids(out.path(), "contacts").len(), 2_000);
}

/// `intercom-dump dump` from `url` into `out`, trusting the CA in `bundle` (`SSL_CERT_FILE`), or
/// only the system's store without one.
fn dump_trusting(url: &str, out: &Path, bundle: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intercom-dump"));
    command.args(["dump", "--no-progress", NO_ATTRIBUTES, "--base-url", url, "--out"]).arg(out).env("INTERCOM_TOKEN", TOKEN);
    match bundle {
        Some(bundle) => command.env("SSL_CERT_FILE", bundle),
        None => command.env_remove("SSL_CERT_FILE"),
    };
    command.output().unwrap()
}

#[test]
fn an_untrusted_certificate_stops_at_once_and_says_what_to_trust() {
    let ca = TestCa::new();
    let server = HostileServer::start_tls(&ca, |_| Reply::json(200, &cursor_page(&ids(0..3), 3, None)));
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = dump_trusting(&server.url(), out.path(), None);
    assert_refused(&output, 4, &["certificate", "SSL_CERT_FILE"], out.path());
    assert!(started.elapsed() < Duration::from_secs(10), "not retried: {:?}", started.elapsed());
    assert_eq!(server.connections(), 1, "one handshake, no retries");

    // Trusted through SSL_CERT_FILE, the same server serves the dump.
    let bundle = out.path().join("ca.pem");
    std::fs::write(&bundle, &ca.ca_pem).unwrap();
    let dump_out = out.path().join("dump");
    let output = dump_trusting(&server.url(), &dump_out, Some(&bundle));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(written(&dump_out), ids(0..3));
}

#[test]
fn a_redirect_from_https_to_plain_http_is_refused() {
    let plain = HostileServer::start(|_| Reply::json(200, &cursor_page(&ids(0..3), 3, None)));
    let target = format!("{}/contacts?per_page=150", plain.url());
    let ca = TestCa::new();
    let server = HostileServer::start_tls(&ca, move |_| Reply::bytes(302, Vec::new()).with_header("Location", &target));
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("ca.pem");
    std::fs::write(&bundle, &ca.ca_pem).unwrap();
    let dump_out = out.path().join("dump");
    let output = dump_trusting(&server.url(), &dump_out, Some(&bundle));
    assert_refused(&output, 4, &["redirected to plain http", "unencrypted"], &dump_out);
    assert_eq!(plain.requests(), 0, "nothing was read over plain http");
}

#[test]
fn a_resume_checks_its_options_and_the_cursor_it_goes_on_from() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    // Slow pages of a long listing; later, a server that no longer takes the cursors it gave.
    let refuse = Arc::new(AtomicBool::new(false));
    let server = {
        let refuse = refuse.clone();
        HostileServer::start(move |request| {
            let n: usize = request.param("starting_after").map_or(0, |c| c.parse().unwrap());
            if n > 0 && refuse.load(Ordering::SeqCst) {
                return Reply::json(400, &error_body("client_error", "invalid starting_after"));
            }
            std::thread::sleep(Duration::from_millis(30));
            Reply::json(200, &cursor_page(&ids(n * 150..n * 150 + 150), 150_000, Some(&(n + 1).to_string())))
        })
    };
    let out = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_intercom-dump"));
        command
            .args(["dump", "--no-progress", NO_ATTRIBUTES, "--checkpoint-rows", "300", "--max-file-rows", "300"])
            .args(["--base-url", &server.url(), "--out"])
            .arg(out.path())
            .args(extra)
            .env("INTERCOM_TOKEN", TOKEN);
        command
    };
    let mut child = run(&[]).stderr(std::process::Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !walk(out.path()).iter().any(|p| p.ends_with("checkpoint.json")) {
        assert!(Instant::now() < deadline, "no checkpoint came");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed run's files, but for the note naming the lock's holder (the next run replaces it).
    let staging = |dir: &Path| -> Vec<std::path::PathBuf> {
        walk(dir).into_iter().filter(|p| !p.ends_with(".intercom-dump-contacts.lock")).collect()
    };
    let staged = staging(out.path());

    // Other options than the run it resumes: refused, saying what differs, the staging untouched.
    let output = run(&["--resume", "--format", "both"]).output().unwrap();
    assert_refused(&output, 5, &["cannot resume", "--format was parquet, now both", "drop --resume"], out.path());
    assert_eq!(staging(out.path()), staged, "the staging to resume is left as it was");

    // The same options, but the API no longer takes the cursor: say to start over.
    refuse.store(true, Ordering::SeqCst);
    let output = run(&["--resume"]).output().unwrap();
    assert_refused(&output, 4, &["refused the cursor", "drop --resume"], out.path());
}

#[test]
fn a_token_that_is_part_of_other_words_leaves_the_data_alone() {
    // `ext` stands inside `next` and `text`: not the token there, so the pages stay as served.
    let server =
        cursor_listing(vec![("", cursor_page(&ids(0..150), 300, Some("p2"))), ("p2", cursor_page(&ids(150..300), 300, None))]);
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_intercom-dump"))
        .args(["dump", "--no-progress", NO_ATTRIBUTES, "--base-url", &server.url(), "--out"])
        .arg(out.path())
        .env("INTERCOM_TOKEN", "ext")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(written(out.path()), ids(0..300));
}

/// A companies scroll page of `ids`, handing out `param`.
fn companies_page(ids: &[String], param: &str) -> Value {
    let data: Vec<Value> = ids.iter().map(|id| json!({"type": "company", "id": id, "name": "Acme"})).collect();
    json!({"type": "list", "data": data, "pages": null, "total_count": null, "scroll_param": param})
}

#[test]
fn a_companies_scroll_that_repeats_itself_under_new_params_stops_the_run() {
    let server = HostileServer::start(|request| {
        let n: u64 = request.param("scroll_param").map_or(0, |p| p.trim_start_matches('p').parse().unwrap());
        Reply::json(200, &companies_page(&ids(0..100), &format!("p{}", n + 1)))
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--source", "companies", NO_ATTRIBUTES]);
    assert_refused(&output, 4, &["repeating itself"], out.path());
    assert!(server.requests() < 200, "{} requests", server.requests());
}

#[test]
fn companies_with_wrong_types_and_echoed_tokens_are_kept_whole_without_the_token() {
    let server = HostileServer::start(|request| {
        let echo = request.headers.get("authorization").cloned().unwrap_or_default();
        match (request.path.as_str(), request.param("scroll_param")) {
            ("/data_attributes", _) => Reply::json(
                200,
                &json!({"type": "list", "data": [
                {"type": "data_attribute", "name": "seats", "full_name": "custom_attributes.seats", "data_type": "integer",
                 "custom": true, "archived": false, "model": "company"}]}),
            ),
            (_, None) => {
                let mut page = companies_page(&ids(0..3), "p1");
                page["data"][0]["name"] = json!(echo);
                page["data"][1]["user_count"] = json!("lots");
                page["data"][1]["custom_attributes"] = json!({"seats": "many", "note": echo});
                page["data"][2]["plan"] = json!([1, 2]);
                Reply::json(200, &page)
            }
            (_, Some(_)) => Reply::json(200, &companies_page(&[], "p2")),
        }
    });
    let out = tempfile::tempdir().unwrap();
    let output = dump_cli(&server.url(), out.path(), &["--source", "companies"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let batch = read_parquet(&parquet_files(&out.path().join("companies")));
    assert_eq!(batch.num_rows(), 3, "a value that does not fit loses no record");
    let extra = arrow::array::AsArray::as_string::<i32>(batch.column_by_name("_extra").unwrap().as_ref());
    assert!(extra.value(1).contains("lots") && extra.value(2).contains("[1,2]"), "misfits kept as they came");
    assert!(batch.column_by_name("custom_seats").unwrap().is_null(1), "\"many\" is not an integer");
    assert!(!String::from_utf8_lossy(&output.stderr).contains(TOKEN));
    assert_no_token_under(out.path());
}
