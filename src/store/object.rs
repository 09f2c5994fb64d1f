//! Object storage (S3, GCS, Azure, through `object_store`) as a [`Store`]. A part is a multipart
//! upload: the writer's bytes go in pieces of [`PIECE_BYTES`] to an upload task that gathers them
//! (without copying) into chunks of [`CHUNK_BYTES`], the upload's parts, and puts a few at once;
//! at most [`PIECES_QUEUED`] pieces wait, and past that the
//! writer blocks, so a slow store holds the pipeline back instead of filling memory. Committing
//! completes the upload (the object appears whole, or not at all); a part dropped before its commit
//! aborts its upload. A small file is one put; [`ObjectStorage::put_with`] puts only where nothing
//! is yet (`If-None-Match: *`) or only over the version a run read (`If-Match`): the commit
//! that two racing runs cannot both win. Listing, copying inside the store and deleting serve
//! the publish protocol (`crate::sink::publish_object`). A store's errors name the fix (wrong
//! credentials, a missing bucket) and never carry a configured secret.
//!
//! The store's requests run on a runtime of its own, whatever thread asks (an actor's arbiter
//! included): a caller waits on a plain channel, never on a nested runtime.

use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, WriteMultipart};
use sha2::{Digest, Sha256};

use super::{Committed, Part, Store};
use crate::api::scrub::Scrubber;
use crate::error::ConfigError;
use crate::sink::SinkError;

/// The size of an upload's parts (S3 wants at least 5 MiB for all but the last).
pub(crate) const CHUNK_BYTES: usize = 5 << 20;
/// Chunks a part's writer may get ahead of its upload.
const PIECES_QUEUED: usize = 4;
/// What the writer hands the upload task at a time. Small buffers, all of one size, that the
/// allocator hands back and reuses: chunk-sized ones raise glibc's mmap threshold and stay
/// resident once freed (60 MB more at the peak of a 1,000,000-contact dump, measured).
const PIECE_BYTES: usize = 1 << 20;
/// Chunks of one part uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 2;
/// The largest object read back whole (a manifest of many thousand parts is a few MB).
const MAX_READ_BYTES: u64 = 64 << 20;
/// Objects copied at once when a dump is published.
const COPIES_IN_FLIGHT: usize = 8;

/// An object store and the runtime its requests run on.
pub(crate) struct ObjectStorage {
    store: Arc<dyn ObjectStore>,
    runtime: Arc<tokio::runtime::Runtime>,
    /// `s3://bucket`, for messages (never credentials).
    name: String,
    /// Values blanked out of every message ([`secrets_of`]), in every spelling the API's token
    /// is searched for (as it is, JSON-escaped, percent-encoded).
    secrets: Arc<[Scrubber]>,
    /// On S3: the calls that find and abort the uploads a killed run left.
    uploads: Option<super::s3_uploads::S3Uploads>,
}

impl std::fmt::Debug for ObjectStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStorage").field("name", &self.name).finish_non_exhaustive()
    }
}

impl ObjectStorage {
    /// `store`, named `name` in messages.
    pub(crate) fn new(store: Arc<dyn ObjectStore>, name: impl Into<String>) -> Result<ObjectStorage, SinkError> {
        let name = name.into();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("object-store")
            .enable_all()
            .build()
            .map_err(|e| SinkError::write(Path::new(&name), format!("cannot start the store's runtime: {e}")))?;
        Ok(ObjectStorage { store, runtime: Arc::new(runtime), name, secrets: Arc::from([]), uploads: None })
    }

    /// Runs `future` on the store's runtime and waits for it, from any thread.
    fn wait<T: Send + 'static>(&self, future: impl Future<Output = T> + Send + 'static) -> T {
        wait_on(&self.runtime, future)
    }

    /// The store itself, for a task of the caller's on [`ObjectStorage::spawn`].
    pub(crate) fn inner(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// Runs `future` on the store's runtime, in the background.
    pub(crate) fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) -> tokio::task::JoinHandle<()> {
        self.runtime.spawn(future)
    }

    /// Puts `body` at `path` as `mode` says; the new object's version, for a later
    /// [`PutMode::Update`] (S3 and Azure match its e-tag, GCS its generation). Nothing there yet for
    /// [`PutMode::Create`]: [`SinkError::Exists`]; another version than the one given for
    /// [`PutMode::Update`]: [`SinkError::Raced`].
    pub(crate) fn put_with(&self, path: &Path, body: &[u8], mode: PutMode) -> Result<UpdateVersion, SinkError> {
        let (store, location) = (self.store.clone(), location(path));
        let payload = PutPayload::from(Bytes::copy_from_slice(body));
        let result =
            self.wait(async move { store.put_opts(&location, payload, PutOptions { mode, ..Default::default() }).await });
        match result {
            Ok(put) => Ok(UpdateVersion { e_tag: put.e_tag, version: put.version }),
            Err(object_store::Error::AlreadyExists { .. }) => Err(SinkError::Exists { path: self.display(path) }),
            Err(object_store::Error::Precondition { .. }) => Err(SinkError::Raced { path: self.display(path) }),
            Err(error) => Err(self.fail(path, error)),
        }
    }

    /// The object at `path` and what the store says of it; `None` when there is none. Only the
    /// small files this tool writes are read back (a manifest, a checkpoint, a lock): an object
    /// past [`MAX_READ_BYTES`] is refused before its body is read.
    pub(crate) fn get(&self, path: &Path) -> Result<Option<(Bytes, ObjectMeta)>, SinkError> {
        let (store, location) = (self.store.clone(), location(path));
        let result = self.wait(async move {
            let got = store.get(&location).await?;
            let meta = got.meta.clone();
            if meta.size > MAX_READ_BYTES {
                return Ok(Err(meta.size));
            }
            Ok::<_, object_store::Error>(Ok((got.bytes().await?, meta)))
        });
        match result {
            Ok(Ok(found)) => Ok(Some(found)),
            Ok(Err(size)) => Err(SinkError::write(
                &self.display(path),
                format!("{size} bytes, past the {MAX_READ_BYTES} a file of intercom-dump's holds: not one it wrote"),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.fail(path, error)),
        }
    }

    /// The columns named `columns` (those it has) of the Parquet file at `path`, read by ranges:
    /// its footer, then those columns' chunks, never the whole file.
    pub(crate) fn read_parquet_columns(
        &self,
        path: &Path,
        columns: &[&str],
    ) -> Result<Vec<arrow::array::RecordBatch>, SinkError> {
        use futures_util::TryStreamExt;
        use parquet::arrow::ParquetRecordBatchStreamBuilder;
        let (store, location) = (self.store.clone(), location(path));
        let wanted: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let read = self.wait(async move {
            let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
            let meta = store.head(&location).await.map_err(ReadFailure::Store)?;
            let reader = super::parquet_ranges::RangeReader { store, location, size: meta.size };
            let builder = ParquetRecordBatchStreamBuilder::new(reader).await.map_err(ReadFailure::Parquet)?;
            let roots = crate::sink::read_back::projection(builder.schema(), &wanted);
            let mask = parquet::arrow::ProjectionMask::roots(builder.parquet_schema(), roots);
            let stream = builder.with_projection(mask).build().map_err(ReadFailure::Parquet)?;
            stream.try_collect::<Vec<_>>().await.map_err(ReadFailure::Parquet)
        });
        read.map_err(|failure| match failure {
            ReadFailure::Store(error) => self.fail(path, error),
            ReadFailure::Parquet(error) => {
                SinkError::write(&self.display(path), format!("cannot read it back as Parquet: {error}"))
            }
        })
    }

    /// What the store says of the object at `path`; `None` when there is none.
    pub(crate) fn head(&self, path: &Path) -> Result<Option<ObjectMeta>, SinkError> {
        let (store, location) = (self.store.clone(), location(path));
        match self.wait(async move { store.head(&location).await }) {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(self.fail(path, error)),
        }
    }

    /// Every object under the folder `prefix`, at any depth.
    pub(crate) fn list(&self, prefix: &Path) -> Result<Vec<ObjectMeta>, SinkError> {
        use futures_util::TryStreamExt;
        let (store, location) = (self.store.clone(), location(prefix));
        self.wait(async move { store.list(Some(&location)).try_collect::<Vec<_>>().await }).map_err(|e| self.fail(prefix, e))
    }

    /// Deletes the objects at `paths`; one already gone is not an error.
    pub(crate) fn delete_all(&self, paths: Vec<ObjectPath>) -> Result<(), SinkError> {
        use futures_util::StreamExt;
        if paths.is_empty() {
            return Ok(());
        }
        let first = std::path::PathBuf::from(paths[0].to_string());
        let store = self.store.clone();
        let failed = self.wait(async move {
            let stream = futures_util::stream::iter(paths.into_iter().map(Ok)).boxed();
            let results: Vec<_> = store.delete_stream(stream).collect().await;
            results.into_iter().find_map(|r| r.err().filter(|e| !matches!(e, object_store::Error::NotFound { .. })))
        });
        failed.map_or(Ok(()), |e| Err(self.fail(&first, e)))
    }

    /// Copies each `(from, to)` inside the store (no byte comes down), a few at once.
    pub(crate) fn copy_all(&self, pairs: Vec<(ObjectPath, ObjectPath)>) -> Result<(), SinkError> {
        use futures_util::{StreamExt, TryStreamExt};
        let store = self.store.clone();
        let result = self.wait(async move {
            futures_util::stream::iter(pairs)
                .map(|(from, to)| {
                    let store = store.clone();
                    async move { store.copy(&from, &to).await.map_err(|e| (from, e)) }
                })
                .buffer_unordered(COPIES_IN_FLIGHT)
                .try_collect::<Vec<()>>()
                .await
        });
        result.map(|_| ()).map_err(|(from, e)| self.fail(Path::new(from.as_ref()), e))
    }

    /// Aborts the unfinished multipart uploads under the folder `prefix` (a killed run's: a live
    /// run's would fail its part); where the store cannot list them (GCS, Azure), nothing.
    pub(crate) fn abort_uploads(&self, prefix: &Path) {
        let Some(uploads) = self.uploads.clone() else { return };
        let prefix = format!("{}/", location(prefix));
        match self.wait(async move { uploads.abort_under(&prefix).await }) {
            Ok(0) => {}
            Ok(aborted) => tracing::info!(aborted, "aborted the unfinished uploads of a run that did not finish"),
            Err(reason) => tracing::warn!(
                "cannot abort the unfinished uploads of a run that did not finish: {}",
                self.failure().scrub(&reason)
            ),
        }
    }

    /// `path` as a user reads it: `s3://bucket/key`.
    pub(crate) fn display(&self, path: &Path) -> PathBuf {
        shown(&self.name, path)
    }

    /// A store's error as one line for `path` ([`Failure`]).
    fn fail(&self, path: &Path, error: object_store::Error) -> SinkError {
        self.failure().describe(path, error)
    }

    fn failure(&self) -> Failure {
        Failure { name: self.name.clone(), secrets: self.secrets.clone() }
    }
}

/// Turns a store's errors into one line that names the fix where the store says what is wrong
/// (credentials refused, no such bucket), with every configured secret blanked out.
#[derive(Clone)]
struct Failure {
    name: String,
    secrets: Arc<[Scrubber]>,
}

impl Failure {
    fn scrub(&self, text: &str) -> String {
        let scrubbed = self.secrets.iter().fold(Bytes::copy_from_slice(text.as_bytes()), |text, secret| secret.scrub(text));
        String::from_utf8_lossy(&scrubbed).into_owned()
    }

    fn describe(&self, path: &Path, error: object_store::Error) -> SinkError {
        let reason = self.scrub(&error.to_string());
        let denied = matches!(error, object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. })
            || ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403 Forbidden", "401 Unauthorized"]
                .iter()
                .any(|code| reason.contains(code));
        if denied {
            return SinkError::StoreDenied { store: self.name.clone(), reason: status_of(&reason) };
        }
        if ["NoSuchBucket", "ContainerNotFound", "The specified bucket does not exist"].iter().any(|code| reason.contains(code)) {
            return SinkError::NoBucket { store: self.name.clone() };
        }
        SinkError::write(&shown(&self.name, path), first_line(&reason))
    }
}

/// `path` in the store `name`, as a user reads it: `s3://bucket/key`.
fn shown(name: &str, path: &Path) -> PathBuf {
    PathBuf::from(format!("{name}/{}", location(path)))
}

/// The HTTP status and the store's error code in a store's message (`403 Forbidden,
/// SignatureDoesNotMatch`), else its first line.
fn status_of(text: &str) -> String {
    let status = text.split_once("status code: ").map(|(_, rest)| rest.split(':').next().unwrap_or(rest).trim().to_string());
    let code = text.split_once("<Code>").and_then(|(_, rest)| rest.split_once("</Code>")).map(|(code, _)| code.to_string());
    match (status, code) {
        (Some(status), Some(code)) => format!("{status}, {code}"),
        (Some(status), None) => status,
        _ => first_line(text),
    }
}

/// A store's message, its first line, kept short: the rest is the server's body.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(400) {
        Some((at, _)) => format!("{}...", &line[..at]),
        None => line.to_string(),
    }
}

/// Configured values that may be secrets, blanked out of every message: every
/// `--storage-option` value long enough to be one, and the clouds' credential variables.
fn secrets_of(options: &[(String, String)]) -> Vec<String> {
    const VARIABLES: [&str; 9] = [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AZURE_STORAGE_ACCOUNT_KEY",
        "AZURE_STORAGE_ACCESS_KEY",
        "AZURE_STORAGE_SAS_KEY",
        "AZURE_STORAGE_TOKEN",
        "AZURE_CLIENT_SECRET",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
    ];
    let from_env = VARIABLES.iter().filter_map(|v| std::env::var(v).ok());
    from_env.chain(options.iter().map(|(_, value)| value.clone())).filter(|v| v.len() >= 8).collect()
}

/// Where `--out` points on object storage: `s3://` (or `s3a://`), `gs://`, `az://` (or
/// `abfs(s)://`) and the key prefix under the bucket. Credentials, region and endpoint come the
/// way each cloud's users expect: the environment its builder reads (`AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT_URL`...;
/// `GOOGLE_SERVICE_ACCOUNT`...; `AZURE_STORAGE_ACCOUNT_NAME`...), then `options`
/// (`--storage-option KEY=VALUE`, the builder's own key names). A plain-http S3 endpoint is
/// allowed on loopback (a local test server), elsewhere only with `AWS_ALLOW_HTTP=true` (or the
/// `allow_http` option). No message carries an option's value: it may be a secret.
pub(crate) fn open(url: &url::Url, options: &[(String, String)]) -> Result<(ObjectStorage, String), ConfigError> {
    use object_store::aws::AmazonS3Builder;
    use object_store::azure::MicrosoftAzureBuilder;
    use object_store::gcp::GoogleCloudStorageBuilder;

    let bad = |reason: String| ConfigError::OutUrl { url: redacted(url), reason };
    let unknown = |key: &str| ConfigError::StorageOption { key: key.to_string(), scheme: url.scheme().to_string() };
    let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| bad("it names no bucket or container".into()))?;
    let prefix = url.path().trim_matches('/').to_string();
    crate::api::client::install_crypto_provider();
    let mut uploads = None;
    let store: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            let mut builder = AmazonS3Builder::from_env().with_url(url.as_str());
            let mut endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).ok();
            let mut allow_http = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            for (key, value) in options {
                let parsed = key.to_ascii_lowercase().parse().map_err(|_| unknown(key))?;
                if matches!(parsed, object_store::aws::AmazonS3ConfigKey::Endpoint) {
                    endpoint = Some(value.clone());
                }
                if key.eq_ignore_ascii_case("allow_http") || key.eq_ignore_ascii_case("aws_allow_http") {
                    allow_http = value.eq_ignore_ascii_case("true");
                }
                builder = builder.with_config(parsed, value);
            }
            if let Some(endpoint) = endpoint.as_deref().and_then(|e| url::Url::parse(e).ok()).filter(|e| e.scheme() == "http") {
                if !crate::config::is_loopback(&endpoint) && !allow_http {
                    return Err(ConfigError::InsecureStorage { host: endpoint.host_str().unwrap_or("").to_string() });
                }
                builder = builder.with_allow_http(true);
            }
            use object_store::aws::AmazonS3ConfigKey as Key;
            let region = builder.get_config_value(&Key::Region).unwrap_or_else(|| "us-east-1".into());
            let virtual_hosted = builder.get_config_value(&Key::VirtualHostedStyleRequest).is_some_and(|v| v == "true");
            let endpoint = builder.get_config_value(&Key::Endpoint);
            let bucket_url = match (endpoint, virtual_hosted) {
                (Some(endpoint), true) => endpoint,
                (Some(endpoint), false) => format!("{}/{bucket}", endpoint.trim_end_matches('/')),
                (None, true) => format!("https://{bucket}.s3.{region}.amazonaws.com"),
                (None, false) => format!("https://s3.{region}.amazonaws.com/{bucket}"),
            };
            let s3 = Arc::new(builder.build().map_err(|e| bad(builder_error(&e)))?);
            uploads = Some(super::s3_uploads::S3Uploads::new(s3.clone(), bucket_url, region));
            s3
        }
        "gs" => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url.as_str());
            for (key, value) in options {
                builder = builder.with_config(key.to_ascii_lowercase().parse().map_err(|_| unknown(key))?, value);
            }
            Arc::new(builder.build().map_err(|e| bad(builder_error(&e)))?)
        }
        "az" | "abfs" | "abfss" | "azure" => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_url(url.as_str());
            for (key, value) in options {
                builder = builder.with_config(key.to_ascii_lowercase().parse().map_err(|_| unknown(key))?, value);
            }
            Arc::new(builder.build().map_err(|e| bad(builder_error(&e)))?)
        }
        other => return Err(bad(format!("{other}:// is not object storage intercom-dump writes"))),
    };
    let name = format!("{}://{bucket}", url.scheme());
    let mut storage = ObjectStorage::new(store, name).map_err(|e| bad(e.to_string()))?;
    storage.secrets = secrets_of(options).iter().map(|secret| Scrubber::new(secret)).collect();
    storage.uploads = uploads;
    Ok((storage, prefix))
}

/// A builder's complaint, without anything it may have quoted from the configuration (a key).
fn builder_error(error: &object_store::Error) -> String {
    match error {
        object_store::Error::Generic { store, .. } => {
            format!(
                "the {store} client cannot be configured from the environment and --storage-option (a missing bucket, region or credential?)"
            )
        }
        _ => "the store's client cannot be configured from the environment and --storage-option".into(),
    }
}

/// `url` without credentials, query or fragment, for messages.
fn redacted(url: &url::Url) -> String {
    format!("{}://{}{}", url.scheme(), url.host_str().unwrap_or(""), url.path())
}

/// Runs `future` on `runtime` and waits on a plain channel: allowed on a thread that is itself
/// inside a runtime, where `block_on` is not.
fn wait_on<T: Send + 'static>(runtime: &tokio::runtime::Runtime, future: impl Future<Output = T> + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(future.await);
    });
    result.recv().expect("the store's runtime runs every task it is given to its end")
}

/// Why a file could not be read back: the store's failure, or what it holds.
enum ReadFailure {
    Store(object_store::Error),
    Parquet(parquet::errors::ParquetError),
}

/// The object key of `path`: its components joined by `/`, without a leading one.
fn location(path: &Path) -> ObjectPath {
    let key: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    ObjectPath::from(key.join("/"))
}

/// What a part's writer sends its upload task.
enum Upload {
    Chunk(Bytes),
    Complete,
}

impl Store for ObjectStorage {
    fn create(&self, path: &Path) -> Result<Box<dyn Part>, SinkError> {
        let (store, target) = (self.store.clone(), location(path));
        let (sender, mut chunks) = tokio::sync::mpsc::channel::<Upload>(PIECES_QUEUED);
        let (finished, outcome) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let result = async {
                let upload = store.put_multipart(&target).await?;
                let mut writer = WriteMultipart::new_with_chunk_size(upload, CHUNK_BYTES);
                while let Some(message) = chunks.recv().await {
                    match message {
                        Upload::Chunk(bytes) => {
                            if let Err(error) = writer.wait_for_capacity(UPLOADS_IN_FLIGHT).await {
                                let _ = writer.abort().await;
                                return Err(error);
                            }
                            writer.put(bytes);
                        }
                        Upload::Complete => return writer.finish().await.map(|_| true),
                    }
                }
                // The writer went away without a commit: the upload goes, nothing appears.
                writer.abort().await.map(|()| false)
            }
            .await;
            let _ = finished.send(result);
        });
        Ok(Box::new(ObjectPart {
            runtime: self.runtime.clone(),
            sender: Some(sender),
            outcome,
            buffer: Vec::with_capacity(PIECE_BYTES),
            hasher: Sha256::new(),
            bytes: 0,
            path: path.to_path_buf(),
            failure: self.failure(),
        }))
    }

    fn put(&self, path: &Path, body: &[u8]) -> Result<(), SinkError> {
        self.put_with(path, body, PutMode::Overwrite).map(|_| ())
    }
}

/// A part on its way up.
struct ObjectPart {
    runtime: Arc<tokio::runtime::Runtime>,
    /// `None` once committed.
    sender: Option<tokio::sync::mpsc::Sender<Upload>>,
    /// The upload task's end: completed (true), aborted (false), or failed.
    outcome: std::sync::mpsc::Receiver<Result<bool, object_store::Error>>,
    failure: Failure,
    buffer: Vec<u8>,
    hasher: Sha256,
    bytes: u64,
    path: std::path::PathBuf,
}

impl ObjectPart {
    /// Hands `message` to the upload task, waiting while its queue is full.
    fn send(&mut self, message: Upload) -> io::Result<()> {
        let sender = self.sender.clone().ok_or_else(|| io::Error::other("the part was already committed"))?;
        let sent = wait_on(&self.runtime, async move { sender.send(message).await.is_ok() });
        if sent {
            return Ok(());
        }
        // The task ended early: it failed, and says why.
        let reason = match self.outcome.recv() {
            Ok(Err(error)) => self.failure.describe(&self.path, error).to_string(),
            _ => "the upload ended early".into(),
        };
        Err(io::Error::other(reason))
    }

    fn ship_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(PIECE_BYTES)));
        self.send(Upload::Chunk(chunk))
    }
}

impl Write for ObjectPart {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // What fits in the piece: its buffer never grows past the size it was made with.
        let data = &data[..data.len().min(PIECE_BYTES - self.buffer.len())];
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= PIECE_BYTES {
            self.ship_buffer()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Part for ObjectPart {
    fn bytes(&self) -> u64 {
        self.bytes
    }

    fn commit(mut self: Box<Self>) -> Result<Committed, SinkError> {
        let path = self.path.clone();
        self.ship_buffer().and_then(|()| self.send(Upload::Complete)).map_err(|e| SinkError::write(&path, e))?;
        self.sender = None;
        match self.outcome.recv() {
            Ok(Ok(true)) => {
                Ok(Committed { bytes: self.bytes, sha256: format!("{:x}", std::mem::take(&mut self.hasher).finalize()) })
            }
            Ok(Ok(false)) => Err(SinkError::write(&path, "the upload was aborted")),
            Ok(Err(error)) => Err(self.failure.describe(&path, error)),
            Err(_) => Err(SinkError::write(&path, "the upload task ended without a word")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;

    fn storage() -> (ObjectStorage, Arc<InMemory>) {
        let memory = Arc::new(InMemory::new());
        (ObjectStorage::new(memory.clone(), "memory").unwrap(), memory)
    }

    fn objects(memory: &Arc<InMemory>) -> Vec<String> {
        let memory = memory.clone();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async move {
            use futures_util::StreamExt;
            memory.list(None).map(|m| m.unwrap().location.to_string()).collect::<Vec<_>>().await
        })
    }

    #[test]
    fn a_parquet_part_is_read_back_in_the_columns_asked_for_and_a_broken_one_refused() {
        let (storage, _) = storage();
        let schema = Arc::new(arrow::datatypes::Schema::new(vec![
            arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Utf8, false),
            arrow::datatypes::Field::new("email", arrow::datatypes::DataType::Utf8, true),
        ]));
        let ids: Vec<String> = (0..5_000).map(|i| format!("id-{i}")).collect();
        let columns: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(arrow::array::StringArray::from(ids.clone())),
            Arc::new(arrow::array::StringArray::from(vec![Some("a@b"); 5_000])),
        ];
        let batch = arrow::array::RecordBatch::try_new(schema.clone(), columns).unwrap();
        let mut body = Vec::new();
        let mut writer = parquet::arrow::ArrowWriter::try_new(&mut body, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        storage.put(Path::new("lake/contacts/part-00000.parquet"), &body).unwrap();
        let read = storage.read_parquet_columns(Path::new("lake/contacts/part-00000.parquet"), &["id", "type"]).unwrap();
        let read = arrow::compute::concat_batches(&read[0].schema(), &read).unwrap();
        assert_eq!(read.num_columns(), 1, "the id alone: there is no type column");
        let got: Vec<&str> = arrow::array::AsArray::as_string::<i32>(read.column(0)).iter().map(|v| v.unwrap()).collect();
        assert_eq!(got, ids);
        storage.put(Path::new("lake/contacts/part-00001.parquet"), b"not parquet").unwrap();
        let error = storage.read_parquet_columns(Path::new("lake/contacts/part-00001.parquet"), &["id"]).unwrap_err();
        assert!(error.to_string().contains("cannot read it back as Parquet"), "{error}");
    }

    #[test]
    fn a_part_appears_whole_on_commit_and_an_abandoned_one_never() {
        let (storage, memory) = storage();
        let mut part = storage.create(Path::new("lake/contacts/part-00000.parquet")).unwrap();
        let body: Vec<u8> = (0..(CHUNK_BYTES * 2 + 1234)).map(|i| (i % 251) as u8).collect();
        part.write_all(&body).unwrap();
        assert!(objects(&memory).is_empty(), "nothing under the name before the commit");
        let committed = part.commit().unwrap();
        assert_eq!(committed.bytes, body.len() as u64);
        assert_eq!(committed.sha256, format!("{:x}", Sha256::digest(&body)));
        assert_eq!(objects(&memory), ["lake/contacts/part-00000.parquet"]);

        let mut dropped = storage.create(Path::new("lake/contacts/part-00001.parquet")).unwrap();
        dropped.write_all(&body).unwrap();
        drop(dropped);
        assert_eq!(objects(&memory), ["lake/contacts/part-00000.parquet"]);
    }

    #[test]
    fn a_store_that_does_not_take_the_bytes_holds_the_writer_back_with_little_in_memory() {
        use object_store::throttle::{ThrottleConfig, ThrottledStore};
        use std::sync::atomic::{AtomicU64, Ordering};
        // Every chunk's upload waits an hour: the store takes nothing.
        let config = ThrottleConfig { wait_put_per_call: std::time::Duration::from_secs(3_600), ..Default::default() };
        let stalled = Arc::new(ThrottledStore::new(InMemory::new(), config));
        let storage = ObjectStorage::new(stalled, "stalled").unwrap();
        let mut part = storage.create(Path::new("lake/contacts/part-00000.parquet")).unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let counted = written.clone();
        std::thread::spawn(move || {
            let piece = vec![7u8; 64 << 10];
            for _ in 0..1_024 {
                part.write_all(&piece).unwrap();
                counted.fetch_add(piece.len() as u64, Ordering::SeqCst);
            }
        });
        // Time to fill every buffer there is; the writer then waits, however long it is given.
        std::thread::sleep(std::time::Duration::from_secs(2));
        let held = written.load(Ordering::SeqCst);
        // Two chunks uploading, one filling, the pieces queued, the one being filled.
        let bound = (UPLOADS_IN_FLIGHT + 1) * CHUNK_BYTES + (PIECES_QUEUED + 2) * PIECE_BYTES;
        assert!(held >= CHUNK_BYTES as u64 && held <= bound as u64, "{held} bytes taken, at most {bound} held");
    }

    #[test]
    fn an_object_too_big_to_be_ours_is_not_read() {
        let (storage, _memory) = storage();
        let huge = vec![b' '; MAX_READ_BYTES as usize + 1];
        storage.put(Path::new("lake/contacts/_manifest.json"), &huge).unwrap();
        let refused = storage.get(Path::new("lake/contacts/_manifest.json")).unwrap_err();
        assert!(refused.to_string().contains("not one it wrote"), "{refused}");
    }

    #[test]
    fn a_new_file_goes_only_where_nothing_is() {
        let (storage, memory) = storage();
        storage.put_with(Path::new("lake/contacts/_manifest.json"), b"{}", PutMode::Create).unwrap();
        let second = storage.put_with(Path::new("lake/contacts/_manifest.json"), b"{\"other\": 1}", PutMode::Create);
        assert!(matches!(second, Err(SinkError::Exists { .. })), "{second:?}");
        assert!(storage.head(Path::new("lake/contacts/_manifest.json")).unwrap().is_some());
        assert!(storage.head(Path::new("lake/contacts/_SUCCESS")).unwrap().is_none());
        storage.put(Path::new("lake/contacts/_SUCCESS"), b"").unwrap();
        assert_eq!(objects(&memory).len(), 2);
    }

    #[test]
    fn out_urls_name_their_store_and_refuse_what_they_cannot_be() {
        let parse = |u: &str| url::Url::parse(u).unwrap();
        let fake = [
            ("aws_access_key_id".to_string(), "AKIA-NOT-SHOWN".to_string()),
            ("aws_secret_access_key".into(), "not-shown".into()),
            ("region".into(), "eu-west-1".into()),
        ];
        let (storage, prefix) = open(&parse("s3://lake/intercom/prod/"), &fake).unwrap();
        assert_eq!((storage.name.as_str(), prefix.as_str()), ("s3://lake", "intercom/prod"));
        let local = [("endpoint".to_string(), "http://127.0.0.1:9000".to_string())];
        assert!(open(&parse("s3://lake"), &local).is_ok(), "plain http on loopback is a local test server");
        let remote = [("endpoint".to_string(), "http://minio.example.com:9000".to_string())];
        let refused = open(&parse("s3://lake"), &remote).unwrap_err();
        assert!(matches!(refused, ConfigError::InsecureStorage { .. }), "{refused}");
        let allowed = [remote[0].clone(), ("allow_http".to_string(), "true".to_string())];
        assert!(open(&parse("s3://lake"), &allowed).is_ok());
        let secret = [("aws_secret_acces_key".to_string(), "s3cr3t-value".to_string())];
        let unknown = open(&parse("s3://lake"), &secret).unwrap_err();
        assert!(unknown.to_string().contains("aws_secret_acces_key") && !unknown.to_string().contains("s3cr3t"), "{unknown}");
        for url in ["ftp://lake/x", "s3:///x"] {
            assert!(matches!(open(&parse(url), &[]), Err(ConfigError::OutUrl { .. })), "{url}");
        }
    }

    #[test]
    fn the_store_is_usable_from_inside_another_runtime() {
        let (storage, memory) = storage();
        let outer = tokio::runtime::Builder::new_current_thread().build().unwrap();
        outer.block_on(async {
            storage.put(Path::new("a/b"), b"x").unwrap();
            let mut part = storage.create(Path::new("a/c")).unwrap();
            part.write_all(b"yz").unwrap();
            part.commit().unwrap();
        });
        assert_eq!(objects(&memory), ["a/b", "a/c"]);
    }
}
