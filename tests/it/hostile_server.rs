//! A small HTTP/1.1 server on loopback whose every answer a test scripts: cut or repeated
//! cursors, wrong types, bodies that never end, absurd headers. Plain std threads, keep-alive,
//! Content-Length answers (or an endless chunked body, bounded in bytes and time so a broken
//! client cannot keep it going); over TLS too, with a certificate of a test CA ([`TestCa`]). It
//! stops when dropped.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// What a client asked.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Request {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }
}

/// What the server answers.
pub(crate) enum Reply {
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// A 200 whose chunked body never ends (until 2 GB or 60 s, whichever comes first).
    Endless,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &Value) -> Reply {
        Reply::bytes(status, serde_json::to_vec(body).unwrap())
    }

    pub(crate) fn bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply::Full { status, headers: vec![("Content-Type".into(), "application/json".into())], body }
    }

    pub(crate) fn with_header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Full { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub(crate) struct HostileServer {
    port: u16,
    tls: bool,
    requests: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// A certificate authority of the test's own, and a certificate for 127.0.0.1 it signed.
pub(crate) struct TestCa {
    /// The CA's certificate, PEM: what `SSL_CERT_FILE` points at to trust the server.
    pub ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl TestCa {
    pub(crate) fn new() -> TestCa {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca).unwrap();
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let server = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], private)
            .unwrap();
        TestCa { ca_pem: ca.pem(), server: Arc::new(server) }
    }
}

impl HostileServer {
    pub(crate) fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HostileServer {
        HostileServer::listen(None, handler)
    }

    /// The same server behind TLS with `ca`'s certificate.
    pub(crate) fn start_tls(ca: &TestCa, handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HostileServer {
        HostileServer::listen(Some(ca.server.clone()), handler)
    }

    fn listen(
        tls: Option<Arc<rustls::ServerConfig>>,
        handler: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let secure = tls.is_some();
        {
            let (requests, connections, stop) = (requests.clone(), connections.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    connections.fetch_add(1, Ordering::SeqCst);
                    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
                    let (handler, requests, stop, tls) = (handler.clone(), requests.clone(), stop.clone(), tls.clone());
                    std::thread::spawn(move || match tls {
                        None => serve(stream, &*handler, &requests, &stop),
                        Some(config) => {
                            let Ok(connection) = rustls::ServerConnection::new(config) else { return };
                            serve(rustls::StreamOwned::new(connection, stream), &*handler, &requests, &stop)
                        }
                    });
                }
            });
        }
        HostileServer { port, tls: secure, requests, connections, stop }
    }

    pub(crate) fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", if self.tls { "https" } else { "http" }, self.port)
    }

    /// Connections accepted so far (a TLS handshake that fails makes no request).
    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests answered so far.
    pub(crate) fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: impl Read + Write, handler: &Handler, requests: &AtomicUsize, stop: &AtomicBool) {
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("/").to_string());
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
            }
        }
        let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let url = url::Url::parse(&format!("http://host{target}")).unwrap();
        let query = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let request = Request { method, path: url.path().to_string(), query, headers, body };
        requests.fetch_add(1, Ordering::SeqCst);
        let writer = reader.get_mut();
        let written = match handler(&request) {
            Reply::Full { status, headers, body } => {
                let mut head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\n", body.len());
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(&body)).and_then(|()| writer.flush())
            }
            Reply::Endless => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                let _ = writer.write_all(head.as_bytes());
                let chunk = format!("{:x}\r\n{}\r\n", 65_536, "[".repeat(65_536));
                let started = Instant::now();
                let mut sent = 0u64;
                while sent < 2 << 30 && started.elapsed() < Duration::from_secs(60) && !stop.load(Ordering::SeqCst) {
                    if writer.write_all(chunk.as_bytes()).is_err() {
                        break;
                    }
                    sent += 65_536;
                }
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// A minimal v2 contact: the fields every record has.
pub(crate) fn contact(id: &str) -> Value {
    json!({"type": "contact", "id": id, "role": "user", "email": format!("{id}@example.com"), "created_at": 1_700_000_000})
}

/// Contact ids `c00000`.. for tests that count.
pub(crate) fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("c{i:05}")).collect()
}

/// A v2 list page of `records`, announcing `total` and handing out `next` as the cursor.
pub(crate) fn cursor_page(records: &[String], total: u64, next: Option<&str>) -> Value {
    let data: Vec<Value> = records.iter().map(|id| contact(id)).collect();
    let next = next.map(|cursor| json!({"page": 2, "starting_after": cursor}));
    json!({"type": "list", "data": data, "total_count": total, "pages": {"type": "pages", "per_page": 150, "next": next}})
}

/// A cursor listing from a script: the page each `starting_after` gets (`""` for the first).
/// Unknown cursors answer 400 as Intercom does.
pub(crate) fn cursor_listing(pages: Vec<(&str, Value)>) -> HostileServer {
    let pages: HashMap<String, Value> = pages.into_iter().map(|(cursor, page)| (cursor.to_string(), page)).collect();
    HostileServer::start(move |request| match request.path.as_str() {
        "/contacts" => match pages.get(request.param("starting_after").unwrap_or("")) {
            Some(page) => Reply::json(200, page),
            None => Reply::json(400, &error_body("client_error", "invalid starting_after")),
        },
        _ => Reply::json(404, &error_body("not_found", "no such path")),
    })
}

pub(crate) fn error_body(code: &str, message: &str) -> Value {
    json!({"type": "error.list", "request_id": "r1", "errors": [{"code": code, "message": message}]})
}

/// A server in front of `upstream` (a simulator) that forwards every request as it came and
/// hands each JSON answer to `alter` (the request, the status, the body) before answering with
/// what it makes of it: a real workspace's answers, bent where a test says.
pub(crate) fn proxy(upstream: String, alter: impl Fn(&Request, u16, Value) -> Reply + Send + Sync + 'static) -> HostileServer {
    HostileServer::start(move |request| {
        let mut url = url::Url::parse(&format!("{upstream}{}", request.path)).unwrap();
        for (name, value) in &request.query {
            url.query_pairs_mut().append_pair(name, value);
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (status, body) = runtime.block_on(async {
            let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
            let mut forward = crate::helpers::http_client().request(method, url).body(request.body.clone());
            for name in ["authorization", "accept", "content-type", "intercom-version"] {
                if let Some(value) = request.headers.get(name) {
                    forward = forward.header(name, value);
                }
            }
            let answer = forward.send().await.unwrap();
            (answer.status().as_u16(), answer.bytes().await.unwrap().to_vec())
        });
        match serde_json::from_slice::<Value>(&body) {
            Ok(json) => alter(request, status, json),
            Err(_) => Reply::bytes(status, body),
        }
    })
}
