//! `--out s3://...` end to end, against a real S3 server (SeaweedFS, [`crate::seaweed`]): every
//! table in both formats published whole, with nothing of the run's own left beside it; a run
//! killed mid-upload publishing nothing, its leftovers cleaned by the next run, `--resume` going
//! on from its checkpoint; a second run refused while the first holds the prefix; wrong
//! credentials and a missing bucket refused with the fix; a store that answers 503 SlowDown for
//! a while, retried; SIGINT leaving nothing. Ignored by a plain `cargo test` (they need `weed`): CI runs them with
//! `--include-ignored`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use intercom_sim::{SimConfig, Workspace};
use sha2::{Digest, Sha256};

use crate::helpers::*;
use crate::seaweed::{self, Bucket};

/// `intercom-dump dump` from `sim_url` into `out` (an `s3://` URL), the bucket's credentials in
/// its environment.
pub(crate) fn dump_to(bucket: &Bucket, sim_url: &str, out: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_intercom-dump"));
    command.args(["dump", "--no-progress", "--base-url", sim_url, "--out", out]).args(extra).env("INTERCOM_TOKEN", TOKEN);
    bucket.env(&mut command);
    command
}

fn run(command: &mut Command) -> std::process::Output {
    output_within(command, Duration::from_secs(300))
}

/// A simulator of `n` contacts from `seed` that answers each request after `latency_ms`: a run
/// slow enough to be caught half-way.
fn slow_simulator(seed: u64, n: u64, latency_ms: u64) -> intercom_sim::SimHandle {
    let mut sim_config = SimConfig::new(seed, n, TOKEN);
    sim_config.faults = intercom_sim::FaultPlan { seed: 1, rules: vec![format!("latency={latency_ms}:1").parse().unwrap()] };
    simulator_with(sim_config)
}

/// Waits up to a minute for `ready`.
fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not happen within a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the table at `prefix/table` is exactly what its manifest lists, each part's bytes
/// hashing to its checksum, with `_SUCCESS` beside it; its manifest.
fn assert_published_whole(bucket: &Bucket, prefix: &str, table: &str) -> serde_json::Value {
    let dir = format!("{prefix}/{table}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&bucket.get(&format!("{dir}/_manifest.json")).unwrap_or_else(|| panic!("{dir} published")))
            .unwrap();
    let mut expected: Vec<String> =
        manifest["files"].as_array().unwrap().iter().map(|f| format!("{dir}/{}", f["path"].as_str().unwrap())).collect();
    for file in manifest["files"].as_array().unwrap() {
        let body = bucket.get(&format!("{dir}/{}", file["path"].as_str().unwrap())).unwrap();
        assert_eq!(body.len() as u64, file["bytes"].as_u64().unwrap());
        assert_eq!(format!("{:x}", Sha256::digest(&body)), file["sha256"].as_str().unwrap(), "{dir}: {file}");
    }
    expected.extend([format!("{dir}/_SUCCESS"), format!("{dir}/_manifest.json")]);
    if table == "contacts" {
        // What an incremental run goes on from: every full dump of the contacts writes it.
        expected.push(format!("{dir}/_state.json"));
    }
    expected.sort();
    assert_eq!(bucket.keys(&dir), expected, "{dir} holds its manifest's parts and markers, nothing else");
    manifest
}

/// No staging, lock or probe of a run is left under `prefix`.
fn assert_nothing_of_a_run_left(bucket: &Bucket, prefix: &str) {
    let left: Vec<String> = bucket.keys(prefix).into_iter().filter(|k| k.contains(".intercom-dump")).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn every_source_in_both_formats_is_published_whole_to_s3_and_replaced_only_with_overwrite() {
    let Some(bucket) = seaweed::bucket("whole") else { return };
    let (seed, n) = (81, 4_000);
    let sim = simulator(seed, n);
    let flags = ["--source", "all", "--format", "both", "--partition-by", "role", "--max-file-rows", "1500"];
    let output = run(&mut dump_to(&bucket, &sim.base_url(), &bucket.url("lake/ws"), &flags));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("in s3://whole/lake/ws"), "{stdout}");
    for table in intercom_dump::workspace::table_names() {
        let manifest = assert_published_whole(&bucket, "lake/ws", table);
        assert_eq!(manifest["complete"], true, "{table}");
    }
    assert!(bucket.get("lake/ws/_workspace.json").is_some());
    assert_nothing_of_a_run_left(&bucket, "lake");
    // The v1 sources, through their scrolls, beside them.
    for source in ["users", "leads"] {
        let output =
            run(&mut dump_to(&bucket, &sim.base_url(), &bucket.url("lake/ws"), &["--source", source, "--format", "both"]));
        assert!(output.status.success(), "{source}: {}", String::from_utf8_lossy(&output.stderr));
        assert_published_whole(&bucket, "lake/ws", source);
    }
    let local = tempfile::tempdir().unwrap();
    bucket.download("lake/ws", local.path());
    let ws = Workspace::new(seed, n);
    assert_exact_ids(&output_ids(local.path(), "contacts"), (0..n).map(|i| ws.contact_id(i)));
    let users = ids_of_role(&ws, intercom_sim::Role::User);
    assert_exact_ids(&output_ids(local.path(), "users"), users);

    // Not over an earlier dump without --overwrite; with it, the new dump alone stays.
    let again = run(&mut dump_to(&bucket, &sim.base_url(), &bucket.url("lake/ws"), &["--format", "arrow"]));
    assert_eq!(again.status.code(), Some(5), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stderr).contains("s3://whole/lake/ws/contacts already holds a dump"));
    let before = bucket.keys("lake/ws/contacts");
    let replaced = run(&mut dump_to(&bucket, &sim.base_url(), &bucket.url("lake/ws"), &["--format", "arrow", "--overwrite"]));
    assert!(replaced.status.success(), "{}", String::from_utf8_lossy(&replaced.stderr));
    let manifest = assert_published_whole(&bucket, "lake/ws", "contacts");
    assert!(manifest["files"].as_array().unwrap().iter().all(|f| f["format"] == "arrow"));
    let after = bucket.keys("lake/ws/contacts");
    assert!(before.iter().filter(|k| k.ends_with(".parquet")).all(|k| !after.contains(k)), "the earlier parts are gone");
    assert_nothing_of_a_run_left(&bucket, "lake");
}

/// Waits (up to a minute) until `bucket` holds a checkpoint and `parts` committed parts under
/// `prefix`'s staging, and a part is on its way up, then SIGKILLs `child`: no destructor, no
/// cleanup, that upload left unfinished.
fn kill_once_staged(mut child: std::process::Child, bucket: &Bucket, prefix: &str, parts: usize) {
    wait_until("a checkpoint, parts staged and one uploading", || {
        assert!(child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        let staged = bucket.keys(&format!("{prefix}/.intercom-dump-staging"));
        let checkpointed = staged.iter().any(|k| k.ends_with("checkpoint.json"));
        let uploading = !bucket.unfinished_uploads().is_empty();
        checkpointed && uploading && staged.iter().filter(|k| k.ends_with(".parquet")).count() >= parts
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn a_run_killed_mid_upload_publishes_nothing_and_the_next_cleans_up_or_resumes() {
    let Some(bucket) = seaweed::bucket("killed") else { return };
    let (seed, n) = (82, 24_000);
    // Slow enough to be killed half-way: 40 pages a second.
    let sim = slow_simulator(seed, n, 25);
    let flags = ["--max-file-rows", "3000", "--checkpoint-rows", "3000", "--format", "both"];
    let start = |extra: &[&str]| {
        let mut command = dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &flags);
        command.args(extra).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        command.spawn().unwrap()
    };

    kill_once_staged(start(&[]), &bucket, "lake", 2);
    assert!(bucket.keys("lake/contacts").is_empty(), "nothing published");
    assert!(!bucket.unfinished_uploads().is_empty(), "a killed run cannot abort its uploads");
    assert!(bucket.get("lake/.intercom-dump-contacts.lock").is_some(), "the killed run's lock is left");
    let requests_before = sim.requests();
    let resumed = run(dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &flags).arg("--resume"));
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let resumed_requests = sim.requests() - requests_before;
    assert!(resumed_requests < n.div_ceil(150), "it went on from the checkpoint: {resumed_requests} requests");
    let manifest = assert_published_whole(&bucket, "lake", "contacts");
    assert_eq!(manifest["records"], n);
    assert_nothing_of_a_run_left(&bucket, "lake");
    assert!(bucket.unfinished_uploads().is_empty(), "the killed run's uploads were aborted: {:?}", bucket.unfinished_uploads());
    let ws = Workspace::new(seed, n);
    let local = tempfile::tempdir().unwrap();
    bucket.download("lake", local.path());
    assert_exact_ids(&output_ids(local.path(), "contacts"), (0..n).map(|i| ws.contact_id(i)));

    // Killed while replacing that dump: it stands as it was; the next run, not resuming, clears
    // the killed run's staging and replaces it whole.
    kill_once_staged(start(&["--overwrite"]), &bucket, "lake", 2);
    assert_eq!(assert_published_whole(&bucket, "lake", "contacts")["run_id"], manifest["run_id"]);
    let replaced = run(&mut dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &["--overwrite"]));
    assert!(replaced.status.success(), "{}", String::from_utf8_lossy(&replaced.stderr));
    assert_ne!(assert_published_whole(&bucket, "lake", "contacts")["run_id"], manifest["run_id"]);
    assert_nothing_of_a_run_left(&bucket, "lake");
    assert!(bucket.unfinished_uploads().is_empty(), "{:?}", bucket.unfinished_uploads());
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn an_interrupted_run_removes_its_staging_and_lock_and_publishes_nothing() {
    let Some(bucket) = seaweed::bucket("interrupted") else { return };
    let sim = slow_simulator(87, 24_000, 25);
    let flags = ["--max-file-rows", "3000", "--checkpoint-rows", "3000"];
    let mut command = dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &flags);
    let child = command.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_until("a staged part", || bucket.keys("lake/.intercom-dump-staging").iter().any(|k| k.ends_with(".parquet")));
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("nothing was published"), "{stderr}");
    assert!(bucket.keys("lake").is_empty(), "no staging, no lock, nothing published: {:?}", bucket.keys("lake"));
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn a_second_run_into_the_same_prefix_is_refused_while_the_first_holds_it() {
    let Some(bucket) = seaweed::bucket("raced") else { return };
    let sim = slow_simulator(83, 6_000, 100);
    let mut first = dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &["--overwrite"]);
    let first = first.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    wait_until("the first run's lock", || bucket.get("lake/.intercom-dump-contacts.lock").is_some());
    let second = run(&mut dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &["--overwrite"]));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("another intercom-dump run") && stderr.contains(&format!("pid {}", first.id())), "{stderr}");
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    assert_published_whole(&bucket, "lake", "contacts");
    assert_nothing_of_a_run_left(&bucket, "lake");
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn wrong_credentials_and_a_missing_bucket_are_refused_before_the_api_is_asked() {
    let Some(bucket) = seaweed::bucket("refusing") else { return };
    let sim = simulator(84, 300);
    let wrong = "wrong-secret-key-never-shown";
    for (out, env_secret, options, words) in [
        ("s3://refusing/lake", wrong, vec![], vec!["s3://refusing refused the credentials", "403", "AWS_SECRET_ACCESS_KEY"]),
        (
            "s3://refusing/lake",
            seaweed::SECRET_KEY,
            vec!["--storage-option".to_string(), format!("aws_secret_access_key={wrong}")],
            vec!["refused the credentials"],
        ),
        (
            "s3://no-such-bucket/lake",
            seaweed::SECRET_KEY,
            vec![],
            vec!["s3://no-such-bucket does not exist", "create the bucket"],
        ),
    ] {
        let mut command = dump_to(&bucket, &sim.base_url(), out, &[]);
        // Every log line there is, the clients' included: none may carry a secret.
        command.args(&options).env("AWS_SECRET_ACCESS_KEY", env_secret).env("RUST_LOG", "trace");
        if env_secret == wrong {
            command.env("AWS_SESSION_TOKEN", "session-token-never-shown");
        }
        let output = run(&mut command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(5), "{out}: {stderr}");
        for word in words {
            assert!(stderr.contains(word), "{word:?} in {stderr}");
        }
        let everything = format!("{stderr}{}", String::from_utf8_lossy(&output.stdout));
        for secret in [wrong, seaweed::SECRET_KEY, "session-token-never-shown"] {
            assert!(!everything.contains(secret), "{secret} in {everything}");
        }
        assert_eq!(stderr.lines().filter(|l| l.starts_with("error: ")).count(), 1, "{stderr}");
    }
    assert_eq!(sim.requests(), 0, "the store is checked before the API is asked anything");
    assert!(bucket.keys("").is_empty());
}

/// A proxy to the S3 server that answers the first `refusals` requests with `status` and the
/// error `xml` (S3's `503 SlowDown` when a prefix is asked too much, say), and forwards the rest.
/// One request a connection.
fn refusing_proxy(refusals: usize, status: &'static str, xml: String) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let refusal = (n < refusals).then(|| (status, xml.clone()));
            std::thread::spawn(move || forward(client, refusal));
        }
    });
    (port, seen)
}

/// Reads one request off `client`; answers it with `refusal`, or passes it to the S3 server
/// (asking it to close after its answer) and the answer back.
fn forward(mut client: TcpStream, refusal: Option<(&str, String)>) {
    client.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let length: usize = text
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if client.read_exact(&mut body).is_err() {
        return;
    }
    if let Some((status, xml)) = refusal {
        let _ = write!(
            client,
            "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}",
            xml.len()
        );
        return;
    }
    let head: String =
        text.split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect::<Vec<_>>().join("\r\n");
    let head = head.trim_end().to_string() + "\r\nConnection: close\r\n\r\n";
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", seaweed::S3_PORT)) else { return };
    if upstream.write_all(head.as_bytes()).and_then(|()| upstream.write_all(&body)).is_err() {
        return;
    }
    let mut answer = Vec::new();
    let _ = upstream.read_to_end(&mut answer);
    let _ = client.write_all(&answer);
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn a_store_that_answers_slow_down_for_a_while_is_retried() {
    let Some(bucket) = seaweed::bucket("slowdown") else { return };
    let (seed, n) = (85, 2_000);
    let sim = simulator(seed, n);
    let slow_down = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
    let (port, seen) = refusing_proxy(6, "503 Slow Down", slow_down.into());
    let mut command = dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &["--source", "all"]);
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"));
    let output = run(&mut command);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(seen.load(Ordering::SeqCst) > 6, "the refused requests were sent again");
    for table in intercom_dump::workspace::table_names() {
        assert_published_whole(&bucket, "lake", table);
    }
    assert_nothing_of_a_run_left(&bucket, "lake");
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn a_store_that_echoes_the_secret_in_its_error_has_it_blanked_out() {
    let Some(bucket) = seaweed::bucket("echoing") else { return };
    let sim = simulator(88, 300);
    // A store (or a proxy before it) whose error repeats the credentials it was given, as they
    // are, JSON-escaped and percent-encoded.
    let secret = "echoed/secret\"key+1";
    let escaped = serde_json::to_string(secret).unwrap();
    let xml = format!(
        "<Error><Code>InvalidRequest</Code><Message>bad key {secret} ({escaped}, echoed%2Fsecret%22key%2B1)</Message></Error>"
    );
    let (port, _) = refusing_proxy(usize::MAX, "400 Bad Request", xml);
    let mut command = dump_to(&bucket, &sim.base_url(), &bucket.url("lake"), &[]);
    command.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}")).env("AWS_SECRET_ACCESS_KEY", secret);
    let output = run(&mut command);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("[REDACTED]"), "the echo reached the message, blanked out: {stderr}");
    for spelling in [secret, &escaped[1..escaped.len() - 1], "echoed%2Fsecret%22key%2B1"] {
        assert!(!stderr.contains(spelling), "{spelling} in {stderr}");
    }
    assert_eq!(sim.requests(), 0, "nothing asked of the API, nothing published");
}

#[test]
#[ignore = "needs SeaweedFS (weed), which .ci/run installs: run with --include-ignored"]
fn change_sets_and_a_reconcile_land_beside_the_dump_on_s3_and_a_full_overwrite_starts_the_table_over() {
    let Some(bucket) = seaweed::bucket("incremental") else { return };
    let (seed, n) = (87, 3_000);
    let out = bucket.url("lake");
    let full = run(&mut dump_to(&bucket, &crate::incremental::evolved(seed, n, 0).base_url(), &out, &[]));
    assert!(full.status.success(), "{}", String::from_utf8_lossy(&full.stderr));
    assert_published_whole(&bucket, "lake", "contacts");
    let sim = crate::incremental::evolved(seed, n, 1);
    let changes = run(&mut dump_to(&bucket, &sim.base_url(), &out, &["--incremental"]));
    assert!(changes.status.success(), "{}", String::from_utf8_lossy(&changes.stderr));
    let state: serde_json::Value = serde_json::from_slice(&bucket.get("lake/contacts/_state.json").unwrap()).unwrap();
    let change_set = state["runs"][1]["path"].as_str().unwrap().to_string();
    assert!(change_set.starts_with("run="), "{state}");
    assert_published_whole(&bucket, "lake/contacts", &change_set);
    assert_nothing_of_a_run_left(&bucket, "lake");
    let local = tempfile::tempdir().unwrap();
    bucket.download("lake", local.path());
    let view = crate::incremental::merged_view(local.path());
    // Without --reconcile the deleted contacts stay: the view holds every contact there is, and those.
    let fresh = crate::incremental::fresh_rows(&sim);
    assert!(fresh.iter().all(|(id, row)| view.get(id) == Some(row)), "every contact there is, as it is now");

    // The reconcile reads the table's ids back from the bucket (by ranges) and tombstones the gone.
    let sim = crate::incremental::evolved(seed, n, 2);
    let reconciled = run(&mut dump_to(&bucket, &sim.base_url(), &out, &["--incremental", "--reconcile"]));
    assert!(reconciled.status.success(), "{}", String::from_utf8_lossy(&reconciled.stderr));
    let local = tempfile::tempdir().unwrap();
    bucket.download("lake", local.path());
    let view = crate::incremental::merged_view(local.path());
    assert_eq!(crate::incremental::differences(&view, &crate::incremental::fresh_rows(&sim)), Vec::<String>::new());
    let again = run(&mut dump_to(&bucket, &sim.base_url(), &out, &["--overwrite"]));
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_published_whole(&bucket, "lake", "contacts");
    assert!(bucket.keys("lake/contacts").iter().all(|k| !k.contains("run=")), "the change sets went with the dump they changed");
}
