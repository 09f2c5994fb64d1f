//! The HTTP client: one reqwest `Client` (rustls), every attempt through one governor rate
//! limiter, failures classified and retried under the backoff of [`super::retry`].
//!
//! A reqwest `Client` belongs to the runtime that built it: build an [`ApiClient`] on the
//! runtime (the actix arbiter) that will use it.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use backon::BackoffBuilder;
use bytes::{Bytes, BytesMut};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use super::retry::{RetryAction, backoff, certainly_unserved, classify, pause_until};
use super::scrub::Scrubber;
use super::wire::{self, ErrorEnvelope, ListedPage};
use super::{ApiError, ScrollBreak};
use crate::config::{ApiConfig, Config, PageQuery};
use crate::listing::Call;
use crate::source::relation::RelationSpec;
use crate::source::{Envelope, SourceSpec};

/// Where a run's calls go: its source's endpoints, and the page list's size and query.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub source: &'static SourceSpec,
    pub page_size: u32,
    pub query: PageQuery,
}

impl Endpoints {
    pub(crate) fn new(config: &Config) -> Endpoints {
        Endpoints { source: config.source.spec(), page_size: config.listing.page_size, query: config.listing.query.clone() }
    }
}

/// The limiter every request of a run passes, whichever task sends it.
pub(crate) type RateLimiter = governor::DefaultDirectRateLimiter;

/// A limiter allowing `per_minute` requests a minute, in bursts of one 10-second window's
/// share: the way Intercom counts.
pub(crate) fn new_rate_limiter(per_minute: u32) -> Arc<RateLimiter> {
    let per_minute = NonZeroU32::new(per_minute.max(1)).expect("at least 1");
    let burst = NonZeroU32::new((per_minute.get() / 6).max(1)).expect("at least 1");
    Arc::new(governor::RateLimiter::direct(governor::Quota::per_minute(per_minute).allow_burst(burst)))
}

/// Counters a run reports in its summary.
#[derive(Debug, Default)]
pub(crate) struct ApiStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub rate_limited: AtomicU64,
    pub waited_ms: AtomicU64,
}

/// The run's API counters: requests, retries, rate-limited answers and time waited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApiStatsSnapshot {
    pub requests: u64,
    pub retries: u64,
    pub rate_limited: u64,
    pub waited_ms: u64,
}

impl ApiStats {
    pub(crate) fn snapshot(&self) -> ApiStatsSnapshot {
        ApiStatsSnapshot {
            requests: self.requests.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            waited_ms: self.waited_ms.load(Ordering::Relaxed),
        }
    }
}

/// Installs ring as the process's rustls crypto provider (reqwest is built without one).
/// A provider installed earlier, by us or the host application, stays.
pub(crate) fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub(crate) struct ApiClient {
    http: reqwest::Client,
    config: ApiConfig,
    headers: HeaderMap,
    limiter: Arc<RateLimiter>,
    stats: Arc<ApiStats>,
    /// Unix milliseconds before which no request goes out: set when an answer's
    /// `X-RateLimit-Remaining` runs low, to its `X-RateLimit-Reset`.
    paused_until_ms: AtomicU64,
    scrubber: Scrubber,
    /// Requests past the pause and not yet answered: those the server may still count in the
    /// window after an answer said how much of it is left.
    committed: AtomicU64,
}

/// Requests a window keeps in hand: enough for the requests already on their way when
/// `X-RateLimit-Remaining` runs low (`committed`), and a margin.
fn rate_limit_reserve(limit: u64, committed: u64) -> u64 {
    (limit / 50).max(4) + committed
}

fn unix_millis() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl ApiClient {
    pub(crate) fn new(config: ApiConfig, limiter: Arc<RateLimiter>, stats: Arc<ApiStats>) -> Result<ApiClient, ApiError> {
        install_crypto_provider();
        // Redirects stay on https: a hop to plain http would carry contact data unencrypted
        // (reqwest already drops `Authorization` on a hop to another host).
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            let downgrade = attempt.url().scheme() == "http"
                && attempt.previous().last().is_some_and(|previous| previous.scheme() == "https");
            if downgrade {
                attempt.error(RedirectRefused::Insecure)
            } else if attempt.previous().len() >= 10 {
                attempt.error(RedirectRefused::TooMany)
            } else {
                attempt.follow()
            }
        });
        let http = reqwest::Client::builder()
            .user_agent(concat!("intercom-dump/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            .redirect(redirects)
            .build()
            .map_err(|e| ApiError::Connect { reason: format!("cannot build the HTTP client: {}", error_chain(&e)) })?;
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| ApiError::Unauthorized { code: "token_malformed".into() })?;
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert("intercom-version", HeaderValue::from_str(&config.version.to_string()).expect("versions are ASCII"));
        let scrubber = Scrubber::new(config.token.expose());
        Ok(ApiClient {
            http,
            config,
            headers,
            limiter,
            stats,
            paused_until_ms: AtomicU64::new(0),
            scrubber,
            committed: AtomicU64::new(0),
        })
    }

    /// The page `call` asks for, from the endpoints of the run's source, retried until it
    /// succeeds or cannot.
    pub(crate) async fn fetch(&self, endpoints: &Endpoints, call: &Call) -> Result<ListedPage, ApiError> {
        let source = endpoints.source;
        match call {
            Call::Cursor { starting_after } => self.cursor_page(source, starting_after.as_deref(), self.config.per_page).await,
            Call::Count => self.cursor_page(source, None, 1).await,
            Call::List => self.reference_list(source).await,
            Call::Related { relation, contact_id, page } => self.related_page(relation, contact_id, *page).await,
            Call::Scroll { param, params_rotate } => self.scroll(source, param.as_deref(), *params_rotate).await,
            Call::Page { number } => self.list_page(source, *number, endpoints.page_size, &endpoints.query).await,
            Call::Search { .. } | Call::Probe { .. } => {
                let body = Bytes::from(call.search_body(self.config.per_page).expect("a search call has a body").to_string());
                self.search_page(source, &body).await
            }
        }
    }

    /// One page of a search (`POST /contacts/search`), the query and the cursor in `body`.
    /// Asking again is harmless: a search's cursor does not move on the server.
    async fn search_page(&self, source: &SourceSpec, body: &Bytes) -> Result<ListedPage, ApiError> {
        let path = source.search_path.ok_or_else(|| ApiError::BadPage { reason: format!("{} have no search", source.name) })?;
        let url = self.endpoint(path);
        let envelope = source.envelope;
        let attempt = || async {
            let (body, round_trip) = self.send_timed(&url, Some(body)).await?;
            let mut page = wire::parse_page(envelope, body)?;
            page.round_trip = Some(round_trip);
            Ok(page)
        };
        self.with_retries(attempt, retryable).await
    }

    /// One page of a v2 cursor list (`GET /contacts`).
    async fn cursor_page(
        &self,
        source: &SourceSpec,
        starting_after: Option<&str>,
        per_page: u32,
    ) -> Result<ListedPage, ApiError> {
        let mut url = self.endpoint(source.list_path);
        {
            let mut query = url.query_pairs_mut();
            query.append_pair("per_page", &per_page.to_string());
            if let Some(cursor) = starting_after {
                // Percent-encoded here: cursors carry `+`, `/` and `=`.
                query.append_pair("starting_after", cursor);
            }
        }
        let envelope = source.envelope;
        self.with_retries(|| async { wire::parse_page(envelope, self.get(&url).await?) }, retryable).await
    }

    /// One page of a v1 scroll (`GET /users/scroll`, or `/contacts/scroll` for leads), opening
    /// it when `scroll_param` is `None`.
    ///
    /// Every page served moves the scroll on, so a failure after which the server may have
    /// served the page is not retried with the same param: unless `params_rotate` (then a
    /// stale param answers 404 instead of skipping a page) it becomes
    /// [`ApiError::ScrollBroken`] with [`ScrollBreak::Uncertain`], and the listing opens a
    /// fresh scroll.
    pub(crate) async fn scroll(
        &self,
        source: &SourceSpec,
        scroll_param: Option<&str>,
        params_rotate: bool,
    ) -> Result<ListedPage, ApiError> {
        let path = source.scroll_path.ok_or_else(|| ApiError::BadPage { reason: format!("{} have no scroll", source.name) })?;
        let mut url = self.endpoint(path);
        if let Some(param) = scroll_param {
            url.query_pairs_mut().append_pair("scroll_param", param);
        }
        // Opening twice is harmless: the second open waits on the lock like any other.
        let repeat_is_safe = scroll_param.is_none() || params_rotate;
        let may_retry = |e: &ApiError| retryable(e) && (repeat_is_safe || certainly_unserved(e));
        let envelope = source.envelope;
        let attempt = || async { wire::parse_page(envelope, self.get(&url).await.map_err(scroll_error)?) };
        self.with_retries(attempt, may_retry).await.map_err(|error| match error {
            // Not retried, and maybe served: the scroll may have moved on past a lost page.
            error if scroll_param.is_some() && retryable(&error) => {
                ApiError::ScrollBroken { cause: ScrollBreak::Uncertain, detail: error.to_string() }
            }
            error => error,
        })
    }

    /// A whole reference list (`GET /tags`, `GET /data_attributes?model=company`...).
    async fn reference_list(&self, source: &SourceSpec) -> Result<ListedPage, ApiError> {
        let mut url = self.endpoint(source.list_path);
        if !source.list_query.is_empty() {
            url.query_pairs_mut().extend_pairs(source.list_query);
        }
        let envelope = source.envelope;
        self.with_retries(|| async { wire::parse_page(envelope, self.get(&url).await?) }, retryable).await
    }

    /// Page `page` of a contact's own list of `relation`: `GET /contacts/{id}/tags` (unpaged) or
    /// `GET /contacts/{id}/companies?page=&per_page=`. The id is one path segment, percent-encoded.
    async fn related_page(&self, relation: &RelationSpec, contact_id: &str, page: u64) -> Result<ListedPage, ApiError> {
        let mut url = self.endpoint(&["contacts"]);
        url.path_segments_mut().expect("http(s) URLs have paths").extend([contact_id, relation.path]);
        if let Some(per_page) = relation.per_page {
            url.query_pairs_mut().append_pair("page", &page.to_string()).append_pair("per_page", &per_page.to_string());
        }
        self.with_retries(|| async { wire::parse_page(Envelope::V1("data"), self.get(&url).await?) }, retryable).await
    }

    /// Whether contact `id` is in the workspace: `GET /contacts/{id}` answers it, or 404.
    pub(crate) async fn contact_exists(&self, id: &str) -> Result<bool, ApiError> {
        let mut url = self.endpoint(&["contacts"]);
        url.path_segments_mut().expect("http(s) URLs have paths").push(id);
        match self.with_retries(|| async { self.get(&url).await.map(drop) }, retryable).await {
            Ok(()) => Ok(true),
            Err(error) if error.status() == Some(404) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// The workspace's attributes of `model` (`contact`): `GET /data_attributes?model=`.
    pub(crate) async fn data_attributes(&self, model: &str) -> Result<Vec<wire::DataAttribute>, ApiError> {
        let mut url = self.endpoint(&["data_attributes"]);
        url.query_pairs_mut().append_pair("model", model);
        self.with_retries(|| async { wire::parse_data_attributes(&self.get(&url).await?) }, retryable).await
    }

    /// Page `page` (from 1) of a v1 page list: `GET /users` or `GET /contacts` (leads).
    async fn list_page(&self, source: &SourceSpec, page: u64, per_page: u32, query: &PageQuery) -> Result<ListedPage, ApiError> {
        let mut url = self.endpoint(source.list_path);
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("page", &page.to_string()).append_pair("per_page", &per_page.to_string());
            for (name, value) in query.pairs() {
                pairs.append_pair(name, &value);
            }
        }
        let envelope = source.envelope;
        self.with_retries(|| async { wire::parse_page(envelope, self.get(&url).await?) }, retryable).await
    }

    fn endpoint(&self, segments: &[&'static str]) -> Url {
        let mut url = self.config.base_url.clone();
        url.path_segments_mut().expect("http(s) URLs have paths").pop_if_empty().extend(segments);
        url
    }

    /// Runs `attempt` until it succeeds, fails for good, or runs out of retries or time. A 429
    /// waits for its window and does not use up a retry, but its wait counts against
    /// `max_retry_elapsed`, which bounds the whole request, attempts and waits included: a server
    /// that answers 429 forever ends the run in bounded time.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F, may_retry: impl Fn(&ApiError) -> bool) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let started = Instant::now();
        let budget = self.config.max_retry_elapsed;
        let mut delays = backoff(&self.config).build();
        let mut attempts = 0usize;
        let mut last: Option<ApiError> = None;
        loop {
            let remaining = budget.saturating_sub(started.elapsed());
            let result = if remaining.is_zero() {
                Err(None)
            } else {
                attempts += 1;
                tokio::time::timeout(remaining, attempt()).await.map_err(|_| None).and_then(|r| r.map_err(Some))
            };
            let error = match result {
                Ok(value) => return Ok(value),
                // Out of time, mid-attempt or between attempts.
                Err(None) => {
                    let last = last.unwrap_or_else(|| ApiError::Timeout { reason: "no answer".into() });
                    return Err(ApiError::OutOfTime { attempts, seconds: budget.as_secs(), last: Box::new(last) });
                }
                Err(Some(error)) => error,
            };
            let wait = match classify(&error) {
                // Refused at the door (a 429): safe to ask again, whatever the request.
                RetryAction::WaitForWindow(wait) => {
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(?wait, "rate limited; waiting for the window to reset");
                    wait
                }
                RetryAction::Retry if may_retry(&error) => match delays.next() {
                    Some(delay) => {
                        self.stats.retries.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(%error, ?delay, "request failed; retrying");
                        delay
                    }
                    None if attempts > 1 => return Err(ApiError::GaveUp { attempts, last: Box::new(error) }),
                    None => return Err(error),
                },
                _ => return Err(error),
            };
            if started.elapsed() + wait >= budget {
                return Err(ApiError::OutOfTime { attempts, seconds: budget.as_secs(), last: Box::new(error) });
            }
            last = Some(error);
            self.stats.waited_ms.fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            tokio::time::sleep(wait).await;
        }
    }

    /// One `GET` attempt.
    async fn get(&self, url: &Url) -> Result<Bytes, ApiError> {
        self.send(url, None).await
    }

    /// One attempt, a `POST` of `body` (JSON) when given, else a `GET`: wait for the window when
    /// the server said it is nearly used up, then for the limiter; send, read the whole body,
    /// map failures.
    async fn send(&self, url: &Url, body: Option<&Bytes>) -> Result<Bytes, ApiError> {
        Ok(self.send_timed(url, body).await?.0)
    }

    /// [`ApiClient::send`], and how long the server took: from sending to the last byte.
    async fn send_timed(&self, url: &Url, body: Option<&Bytes>) -> Result<(Bytes, Duration), ApiError> {
        let paused_until = self.paused_until_ms.load(Ordering::Relaxed);
        let now = unix_millis();
        if paused_until > now {
            let wait = Duration::from_millis(paused_until - now);
            self.stats.waited_ms.fetch_add(wait.as_millis() as u64, Ordering::Relaxed);
            tracing::debug!(?wait, "the rate-limit window is nearly used up; waiting for the next");
            tokio::time::sleep(wait).await;
        }
        let _committed = Committed::new(&self.committed);
        self.limiter.until_ready().await;
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let request = match body {
            None => self.http.get(url.clone()),
            Some(body) => self.http.post(url.clone()).header(CONTENT_TYPE, "application/json").body(body.clone()),
        };
        tracing::debug!(path = url.path(), post = body.is_some(), "request");
        let response = request.headers(self.headers.clone()).send().await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        self.note_rate_window(&headers);
        let body = self.scrubber.scrub(self.read_body(response).await?);
        if status.is_success() { Ok((body, sent.elapsed())) } else { Err(self.status_error(status, &headers, &body)) }
    }

    /// The whole body, decompressed, up to `max_body_bytes`: a body that never ends (or a
    /// compression bomb) fails instead of taking all memory.
    async fn read_body(&self, mut response: reqwest::Response) -> Result<Bytes, ApiError> {
        let limit = self.config.max_body_bytes;
        let too_large = || ApiError::BodyTooLarge { limit };
        let declared = response.content_length().unwrap_or(0);
        if declared > limit as u64 {
            return Err(too_large());
        }
        let mut body = BytesMut::with_capacity(declared as usize);
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    fn status_error(&self, status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
        let envelope = ErrorEnvelope::parse(body);
        let code = envelope.code().to_string();
        let message = envelope.message().to_string();
        match status.as_u16() {
            401 => ApiError::Unauthorized { code },
            403 => ApiError::Forbidden { code, message },
            406 => ApiError::NotAcceptable,
            429 => ApiError::RateLimited {
                reset_at: header_number(headers, "x-ratelimit-reset"),
                retry_after: header_number(headers, RETRY_AFTER.as_str()).map(Duration::from_secs),
                message,
            },
            400 if code == "intercom_version_invalid" => ApiError::VersionInvalid { version: self.config.version, message },
            status => ApiError::Status { status, code, message, request_id: envelope.request_id },
        }
    }
}

fn retryable(error: &ApiError) -> bool {
    classify(error) == RetryAction::Retry
}

/// What a scroll's failures mean, decided on each attempt: an expired param (404), the documented
/// network failure whose error code is unconfirmed (a 500 whose message asks for a restart), and
/// another scroll holding the lock are not worth retrying as they are ([`classify`] stops them);
/// the Coordinator reopens or waits.
fn scroll_error(error: ApiError) -> ApiError {
    match error {
        ApiError::Status { status: 404, message, .. } => ApiError::ScrollBroken { cause: ScrollBreak::Expired, detail: message },
        ApiError::Status { status: 500, message, .. } if message.contains("restart the scroll") => {
            ApiError::ScrollBroken { cause: ScrollBreak::RestartRequired, detail: message }
        }
        ApiError::Status { status: 400, code, message, .. } if code == "scroll_exists" => ApiError::ScrollExists { message },
        error => error,
    }
}

impl ApiClient {
    /// Slows down before the window runs out, not after a 429: when `X-RateLimit-Remaining` is
    /// down to the reserve, no request goes out until `X-RateLimit-Reset`.
    fn note_rate_window(&self, headers: &HeaderMap) {
        let (Some(limit), Some(remaining), Some(reset)) = (
            header_number(headers, "x-ratelimit-limit"),
            header_number(headers, "x-ratelimit-remaining"),
            header_number(headers, "x-ratelimit-reset"),
        ) else {
            return;
        };
        if remaining <= rate_limit_reserve(limit, self.committed.load(Ordering::Relaxed)) {
            self.paused_until_ms.fetch_max(pause_until(unix_millis(), reset), Ordering::Relaxed);
        }
    }
}

/// One request counted in [`ApiClient::committed`] while it lives, however it ends.
struct Committed<'a>(&'a AtomicU64);

impl<'a> Committed<'a> {
    fn new(count: &'a AtomicU64) -> Committed<'a> {
        count.fetch_add(1, Ordering::Relaxed);
        Committed(count)
    }
}

impl Drop for Committed<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Why a redirect was not followed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum RedirectRefused {
    #[error("redirected from https to plain http")]
    Insecure,
    #[error("more than 10 redirects")]
    TooMany,
}

fn transport_error(error: reqwest::Error) -> ApiError {
    let (timeout, connect) = (error.is_timeout(), error.is_connect());
    if error.is_redirect() {
        let to = error.url().map(|u| format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""))).unwrap_or_default();
        let insecure = std::error::Error::source(&error)
            .and_then(|s| s.downcast_ref::<RedirectRefused>())
            .is_some_and(|r| *r == RedirectRefused::Insecure);
        return ApiError::Redirect { to, insecure };
    }
    let reason = error_chain(&error.without_url());
    if let Some(fix) = certificate_fix(&reason) {
        return ApiError::Certificate { reason, fix };
    }
    if timeout {
        ApiError::Timeout { reason }
    } else if connect {
        ApiError::Connect { reason }
    } else {
        ApiError::Body { reason }
    }
}

/// What to do about a TLS failure, when `reason` is one: the certificate chain was refused.
fn certificate_fix(reason: &str) -> Option<&'static str> {
    let lower = reason.to_ascii_lowercase();
    let tls = lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("invalid peer");
    tls.then_some(
        "if a proxy or a private CA signs it, point SSL_CERT_FILE at that CA's PEM bundle (the system's trust store is used otherwise); else check --base-url",
    )
}

/// An error and its sources on one line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
