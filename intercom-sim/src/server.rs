//! The simulator's HTTP surface: routing, the checks every request passes (bearer token,
//! rate-limit window, `Accept`, `Intercom-Version`), the documented error envelope, and the
//! listing endpoints with their pagination.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;

use crate::faults::FaultKind;
use crate::generator::{RecordShape, Role, Workspace};
use crate::page_list::{ListAnswer, ListQuery, MAX_PER_PAGE_V1, PageLists, Sort};
use crate::rate::{RateVerdict, WindowLimiter};
use crate::rendered::RenderedRecords;
use crate::scroll::{RESTART_MESSAGE, ScrollAnswer, Scrolls};
use crate::search::{Invalid, Search, SearchPage, SearchRequest};
use crate::version::Family;
use crate::{NextShape, SimConfig};

/// The largest `per_page` v2 `GET /contacts` honours.
pub const MAX_PER_PAGE_V2: u64 = 150;
/// What v2 `GET /contacts` serves when `per_page` is not sent.
pub const DEFAULT_PER_PAGE_V2: u64 = 10;

/// Shared by every request the simulator serves.
pub struct SimState {
    config: SimConfig,
    workspace: Workspace,
    default_version: Family,
    limiter: WindowLimiter,
    scrolls: Scrolls,
    /// The companies scroll, with a lock of its own.
    pub(crate) company_scrolls: Scrolls,
    pub(crate) company_index: crate::companies::LazyCompanyIndex,
    page_lists: PageLists,
    requests: AtomicU64,
    /// Requests seen by the fault plan, and faults it injected.
    fault_requests: AtomicU64,
    faults_injected: AtomicU64,
    /// Body bytes sent, as they went on the wire (compressed, when they were).
    sent_bytes: AtomicU64,
    /// Records rendered before serving, a store a shape, when asked: pages of those shapes are
    /// read instead of generated.
    rendered: Vec<RenderedRecords>,
    /// The counts of searches asked for, by fingerprint (stable searches only).
    search_totals: std::sync::Mutex<HashMap<u64, u64>>,
}

/// Search counts kept at most (a few MB); all are dropped when it is reached.
const MAX_CACHED_SEARCHES: usize = 100_000;

impl SimState {
    pub fn new(config: SimConfig) -> Self {
        let default_version = Family::of(&config.default_version).unwrap_or(Family::V2);
        SimState {
            workspace: config.workspace().with_live_updates(config.live_updates_per_sec),
            limiter: WindowLimiter::new(config.limit_per_window, config.window_secs),
            default_version,
            scrolls: Scrolls::new(config.scroll.clone(), std::time::Instant::now()),
            company_scrolls: Scrolls::new(config.company_scroll.clone(), std::time::Instant::now()),
            company_index: Default::default(),
            page_lists: PageLists::new(config.page_cap, config.past_cap),
            requests: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            fault_requests: AtomicU64::new(0),
            faults_injected: AtomicU64::new(0),
            rendered: Vec::new(),
            search_totals: std::sync::Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Renders the records of `shapes` into `dir` (on `threads` threads) and serves pages of
    /// those shapes from there from now on.
    pub fn prerender(&mut self, dir: &std::path::Path, shapes: &[RecordShape], threads: usize) -> std::io::Result<()> {
        if self.workspace.live.is_some() {
            // Rendered bytes would freeze `updated_at`: a live workspace is generated as asked.
            tracing::info!("live updates on: records are generated as asked for, not pre-rendered");
            return Ok(());
        }
        for &shape in shapes {
            let store = RenderedRecords::render(&self.workspace, shape, dir, threads)?;
            self.rendered.retain(|s| s.shape() != shape);
            self.rendered.push(store);
        }
        Ok(())
    }

    /// Bytes of records rendered before serving.
    pub fn prerendered_bytes(&self) -> u64 {
        self.rendered.iter().map(|s| s.bytes().unwrap_or(0)).sum()
    }

    /// The records at `indices`, in `shape`, as a JSON array: read back when rendered before,
    /// generated otherwise.
    fn write_records(
        &self,
        shape: RecordShape,
        indices: impl IntoIterator<Item = u64>,
        out: &mut Vec<u8>,
    ) -> Result<(), SimError> {
        match self.rendered.iter().find(|s| s.shape() == shape) {
            Some(store) => store.write_json(indices, out).map_err(unreadable),
            None => {
                self.workspace.write_json_array(shape, indices, out);
                Ok(())
            }
        }
    }

    pub fn workspace(&self) -> Workspace {
        self.workspace
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// `GET /data_attributes`' answer, for `model` or for every model.
    pub fn data_attributes_json(&self, model: Option<&str>) -> serde_json::Value {
        let attribute = |name: &str, data_type: &str, custom: bool, model: &str| {
            let full_name = if custom { format!("custom_attributes.{name}") } else { name.to_string() };
            serde_json::json!({
                "type": "data_attribute", "name": name, "full_name": full_name, "label": name.replace('_', " "),
                "description": "", "data_type": data_type, "api_writable": true, "ui_writable": custom,
                "messenger_writable": false, "custom": custom, "archived": false, "model": model,
            })
        };
        let mut data = Vec::new();
        if model.is_none_or(|m| m == "contact") {
            for (name, data_type) in [("name", "string"), ("email", "string"), ("created_at", "date"), ("owner_id", "integer")] {
                data.push(attribute(name, data_type, false, "contact"));
            }
            let evolved = self.workspace.evolution.map_or(&[][..], |e| e.attributes());
            for (name, data_type) in crate::generator::CUSTOM_ATTRIBUTES.iter().chain(evolved) {
                let misdeclared = self.config.misdeclared_attribute.as_deref() == Some(*name);
                let data_type = match (misdeclared, *data_type) {
                    (false, declared) => declared,
                    (true, "integer") => "boolean",
                    (true, _) => "integer",
                };
                data.push(attribute(name, data_type, true, "contact"));
            }
        }
        if model.is_none_or(|m| m == "company") {
            data.push(attribute("name", "string", false, "company"));
            for (name, data_type) in crate::companies::COMPANY_ATTRIBUTES {
                data.push(attribute(name, data_type, true, "company"));
            }
        }
        serde_json::json!({"type": "list", "data": data})
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Body bytes sent so far, as they went on the wire (compressed, when they were).
    pub fn sent_bytes(&self) -> u64 {
        self.sent_bytes.load(Ordering::Relaxed)
    }

    /// Faults the plan has injected so far (latency not counted).
    pub fn faults_injected(&self) -> u64 {
        self.faults_injected.load(Ordering::Relaxed)
    }

    /// v1 scroll requests received so far.
    pub fn scroll_requests(&self) -> u64 {
        self.scrolls.requests()
    }

    /// Scroll opens refused so far because another scroll held the workspace's lock.
    pub fn refused_scroll_opens(&self) -> u64 {
        self.scrolls.refused_opens()
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    let router = Router::new()
        .route("/contacts", get(list_contacts))
        .route("/contacts/search", post(search_contacts))
        .route("/contacts/{id}", get(get_contact))
        .route("/contacts/{id}/tags", get(crate::relations::contact_tags))
        .route("/contacts/{id}/companies", get(crate::relations::contact_companies))
        .route("/tags", get(crate::reference::list_tags))
        .route("/segments", get(crate::reference::list_segments))
        .route("/admins", get(crate::reference::list_admins))
        .route("/teams", get(crate::reference::list_teams))
        .route("/users", get(list_users))
        .route("/users/scroll", get(scroll_users))
        .route("/contacts/scroll", get(scroll_leads))
        .route("/data_attributes", get(data_attributes))
        .route("/companies", get(crate::companies::list_companies))
        .route("/companies/list", post(crate::companies::list_companies))
        .route("/companies/scroll", get(crate::companies::scroll_companies))
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), inject_faults));
    // gzip for clients that ask (`Accept-Encoding: gzip`), as Intercom answers them; outside the
    // fault layer, so a truncated or cut answer is cut in its compressed form, as on the wire.
    let router = if state.config.gzip { router.layer(tower_http::compression::CompressionLayer::new()) } else { router };
    router.layer(axum::middleware::from_fn_with_state(state.clone(), count_sent)).with_state(state)
}

/// Counts the body bytes of every answer as they leave: outside compression, so what is counted
/// is what crossed the wire.
async fn count_sent(
    State(state): State<Arc<SimState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use http_body_util::BodyExt;
    let (parts, body) = next.run(request).await.into_parts();
    let body = body.map_frame(move |frame| {
        if let Some(data) = frame.data_ref() {
            state.sent_bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        frame
    });
    Response::from_parts(parts, Body::new(body))
}

/// A pre-rendered page that could not be read back: the simulator's own failure.
fn unreadable(error: std::io::Error) -> SimError {
    tracing::error!(%error, "cannot read pre-rendered records");
    SimError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "the simulator cannot read its pre-rendered records")
}

/// Serve until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<SimState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown).await
}

/// Applies the fault plan around every request: latency and failures that happen before the
/// request is served (429, a status), and damage to the answer of one that was (reset, cut,
/// stalled): the scroll has moved on by then, as it would in Intercom.
async fn inject_faults(
    State(state): State<Arc<SimState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if state.config.faults.is_empty() {
        return next.run(request).await;
    }
    let n = state.fault_requests.fetch_add(1, Ordering::Relaxed) + 1;
    let decision = state.config.faults.decide(n);
    if let Some(latency) = decision.latency {
        tokio::time::sleep(latency).await;
    }
    let Some(fault) = decision.fault else { return next.run(request).await };
    state.faults_injected.fetch_add(1, Ordering::Relaxed);
    match fault {
        FaultKind::TooManyRequests => {
            // As a natural refusal: the same message and headers, the window said to end in a second.
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let limit = state.config.limit_per_window;
            let rate = RateVerdict { allowed: false, limit, remaining: 0, reset_at: now + 1 };
            let message = format!("Exceeded rate limit of {limit} in {}_seconds", state.config.window_secs);
            return SimError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", message).with_rate(rate).into_response();
        }
        FaultKind::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let code = if status.is_server_error() { "server_error" } else { "client_error" };
            return SimError::new(status, code, "Injected failure").into_response();
        }
        _ => {}
    }
    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else { return Response::from_parts(parts, Body::empty()) };
    let half = bytes.slice(..bytes.len() / 2);
    let rest = bytes.slice(bytes.len() / 2..);
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = match fault {
        FaultKind::Truncate => Body::from(half),
        FaultKind::NotJson => Body::from("<html><body><h1>502 Bad Gateway</h1></body></html>"),
        FaultKind::DropId => {
            let text = String::from_utf8_lossy(&bytes).replacen("\"id\":", "\"former_id\":", 1);
            Body::from(text)
        }
        FaultKind::ResetMidBody => {
            let failure = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "injected reset");
            Body::from_stream(futures_util::stream::iter([Ok(half), Err(failure)]))
        }
        FaultKind::SlowBody(pause) => {
            let later = async move {
                tokio::time::sleep(pause).await;
                Ok::<_, std::io::Error>(rest)
            };
            Body::from_stream(futures_util::stream::once(std::future::ready(Ok(half))).chain(futures_util::stream::once(later)))
        }
        _ => Body::from(bytes),
    };
    Response::from_parts(parts, body)
}

/// An admitted request: its version, and the rate-limit numbers its answer carries.
pub(crate) struct Admitted {
    pub(crate) version: Family,
    pub(crate) rate: RateVerdict,
}

/// A refusal in Intercom's error envelope: status, code, message, and the rate-limit headers
/// when the request got as far as being counted.
#[derive(Debug)]
pub struct SimError {
    status: StatusCode,
    code: &'static str,
    message: String,
    rate: Option<RateVerdict>,
}

impl SimError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> SimError {
        SimError { status, code, message: message.into(), rate: None }
    }

    pub(crate) fn with_rate(mut self, rate: RateVerdict) -> SimError {
        self.rate = Some(rate);
        self
    }
}

static ERRORS_ANSWERED: AtomicU64 = AtomicU64::new(0);

/// A request id: the short form real answers carry (`000` and 17 more), unique across simulator
/// processes too (the counter starts from the process id and the clock).
pub(crate) fn request_id() -> String {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(|| {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        crate::generator::mix64(nanos ^ u64::from(std::process::id()).rotate_left(40))
    });
    let n = ERRORS_ANSWERED.fetch_add(1, Ordering::Relaxed);
    format!("000{:017x}", crate::generator::mix64(n ^ salt) >> 4)
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "error.list",
            "request_id": request_id(),
            "errors": [{"code": self.code, "message": self.message}],
        });
        json_response(self.status, serde_json::to_vec(&body).expect("JSON values serialise"), self.rate)
    }
}

/// The checks every request passes, in Intercom's order: token, rate limit, Accept, version.
/// The full URL of page `page` of the list at `path` (`/users`) on the host the request named:
/// the request's other parameters kept, `page` replaced.
pub(crate) fn next_page_url(headers: &HeaderMap, path: &str, params: &HashMap<String, String>, page: u64) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let mut next = url::Url::parse(&format!("http://{host}")).expect("a host header makes a URL");
    next.set_path(path);
    {
        let mut pairs = next.query_pairs_mut();
        let mut sorted: Vec<_> = params.iter().filter(|(k, _)| k.as_str() != "page").collect();
        sorted.sort();
        for (key, value) in sorted {
            pairs.append_pair(key, value);
        }
        pairs.append_pair("page", &page.to_string());
    }
    next.to_string()
}

/// `page` (from 1) and `per_page` (`default` unless sent, at most `max`) of a paged request;
/// 400 `parameter_invalid` for a value that is not a number.
pub(crate) fn paging(
    params: &HashMap<String, String>,
    default: u64,
    max: u64,
    rate: RateVerdict,
) -> Result<(u64, u64), SimError> {
    let number = |name: &str, default: u64| -> Result<u64, SimError> {
        params.get(name).map_or(Ok(default), |v| {
            v.parse::<u64>().map_err(|_| {
                SimError::new(StatusCode::BAD_REQUEST, "parameter_invalid", format!("{name} must be a positive integer"))
                    .with_rate(rate)
            })
        })
    };
    Ok((number("page", 1)?.max(1), number("per_page", default)?.clamp(1, max)))
}

pub(crate) fn admit(state: &SimState, headers: &HeaderMap) -> Result<Admitted, SimError> {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let expected = format!("Bearer {}", state.config.token);
    let authorized = headers.get(header::AUTHORIZATION).is_some_and(|v| v.as_bytes() == expected.as_bytes());
    if !authorized {
        return Err(SimError::new(StatusCode::UNAUTHORIZED, "unauthorized", "Access Token Invalid"));
    }
    let rate = state.limiter.check();
    if !rate.allowed {
        let message = format!("Exceeded rate limit of {} in {}_seconds", rate.limit, state.config.window_secs);
        return Err(SimError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_exceeded", message).with_rate(rate));
    }
    if !accepts_json(headers) {
        let message = "The Accept header must be application/json";
        return Err(SimError::new(StatusCode::NOT_ACCEPTABLE, "media_type_not_acceptable", message).with_rate(rate));
    }
    let version = match headers.get("intercom-version") {
        None => state.default_version,
        Some(value) => value.to_str().ok().and_then(Family::of).ok_or_else(|| {
            SimError::new(StatusCode::BAD_REQUEST, "intercom_version_invalid", "Requested version is not valid").with_rate(rate)
        })?,
    };
    Ok(Admitted { version, rate })
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|range| {
        let media = range.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/json") || media == "application/*" || media == "*/*"
    })
}

/// `GET /contacts`: the v2 cursor list under 2.x.
async fn list_contacts(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let Admitted { version, rate } = admit(&state, &headers)?;
    let refuse = |status, code, message: &str| SimError::new(status, code, message).with_rate(rate);
    if version == Family::V1 {
        // Under 1.x this path is the lead page list.
        return v1_page_list(&state, Role::Lead, &headers, &params, rate);
    }
    let per_page = match params.get("per_page").map(|p| p.parse::<u64>()) {
        None => DEFAULT_PER_PAGE_V2,
        Some(Ok(p)) if p >= 1 => p.min(MAX_PER_PAGE_V2),
        Some(_) => return Err(refuse(StatusCode::BAD_REQUEST, "parameter_invalid", "per_page must be a positive integer")),
    };
    let start = match params.get("starting_after") {
        None => 0,
        Some(cursor) => decode_cursor(state.config.seed, cursor)
            .ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "client_error", "Invalid starting_after value"))?,
    };
    let body = render_cursor_page(&state, start, per_page).map_err(|e| e.with_rate(rate))?;
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// `GET /contacts/{id}` (2.x): one contact, as the list serves it.
async fn get_contact(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(&state, &headers)?;
    let Some(i) = state.workspace.index_of_id(&id) else {
        return Err(SimError::new(StatusCode::NOT_FOUND, "not_found", "User Not Found").with_rate(rate));
    };
    let mut body = Vec::with_capacity(3_000);
    state.workspace.write_record_json(RecordShape::ContactV2, i, &mut body);
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// `POST /contacts/search` (2.x): the query in the body, its cursor too ([`crate::search`]).
async fn search_contacts(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, SimError> {
    let Admitted { version, rate } = admit(&state, &headers)?;
    if version == Family::V1 {
        return Err(SimError::new(StatusCode::NOT_FOUND, "not_found", "Resource Not Found").with_rate(rate));
    }
    let refuse = |e: Invalid| SimError::new(StatusCode::BAD_REQUEST, e.code, e.message).with_rate(rate);
    let request = SearchRequest::parse(&body, &state.config.search).map_err(refuse)?;
    // The count of a search whose matches cannot change is kept, as a search engine caches it:
    // a page of a window split on ids then costs its own records, not a scan of the window.
    let stable = request.stable();
    let known = if stable {
        state.search_totals.lock().unwrap_or_else(|p| p.into_inner()).get(&request.fingerprint()).copied()
    } else {
        None
    };
    let page = Search::new(&state.workspace, &request, &state.config.search).with_total(known).page().map_err(refuse)?;
    if stable && known.is_none() {
        let mut totals = state.search_totals.lock().unwrap_or_else(|p| p.into_inner());
        if totals.len() >= MAX_CACHED_SEARCHES {
            totals.clear();
        }
        totals.insert(request.fingerprint(), page.total_count);
    }
    let body = render_search_page(&state, &page, request.per_page).map_err(|e| e.with_rate(rate))?;
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

fn render_search_page(state: &SimState, page: &SearchPage, per_page: u64) -> Result<Vec<u8>, SimError> {
    let mut body = Vec::with_capacity(page.indices.len() * 2_600 + 256);
    body.extend_from_slice(br#"{"type":"list","data":"#);
    state.write_records(RecordShape::ContactV2, page.indices.iter().copied(), &mut body)?;
    let mut pages =
        serde_json::json!({"type": "pages", "page": page.page, "per_page": per_page, "total_pages": page.total_pages});
    if let Some(cursor) = &page.next {
        pages["next"] = serde_json::json!({"page": page.page + 1, "starting_after": cursor});
    }
    body.extend_from_slice(br#","total_count":"#);
    body.extend_from_slice(page.total_count.to_string().as_bytes());
    body.extend_from_slice(br#","pages":"#);
    serde_json::to_writer(&mut body, &pages).expect("writing JSON to a Vec cannot fail");
    body.push(b'}');
    Ok(body)
}

fn render_cursor_page(state: &SimState, start: u64, per_page: u64) -> Result<Vec<u8>, SimError> {
    let ws = state.workspace;
    let total = ws.count();
    // The cursor is an index: deleted and merged contacts are skipped over.
    let mut indices = Vec::with_capacity(per_page as usize);
    let mut end = start;
    while end < ws.contacts && (indices.len() as u64) < per_page {
        if ws.present(end) {
            indices.push(end);
        }
        end += 1;
    }
    while end < ws.contacts && !ws.present(end) {
        end += 1;
    }
    let total_pages = total.div_ceil(per_page);
    let page = start / per_page + 1;
    let mut body = Vec::with_capacity(indices.len() * 2_600 + 256);
    body.extend_from_slice(br#"{"type":"list","data":"#);
    state.write_records(RecordShape::ContactV2, indices, &mut body)?;
    let pages = if end < ws.contacts {
        let cursor = encode_cursor(state.config.seed, end);
        let next = match state.config.next_shape {
            NextShape::Page => serde_json::json!({"page": page + 1, "starting_after": cursor}),
            NextShape::PerPage => serde_json::json!({"per_page": per_page, "starting_after": cursor}),
        };
        serde_json::json!({"type": "pages", "next": next, "page": page, "per_page": per_page, "total_pages": total_pages})
    } else {
        serde_json::json!({"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages})
    };
    body.extend_from_slice(br#","total_count":"#);
    body.extend_from_slice(total.to_string().as_bytes());
    body.extend_from_slice(br#","pages":"#);
    serde_json::to_writer(&mut body, &pages).expect("writing JSON to a Vec cannot fail");
    body.push(b'}');
    Ok(body)
}

/// `GET /data_attributes`: the workspace's attributes, standard and custom, as `?model=` asks
/// (all models when absent). The custom ones are those the generator fills.
async fn data_attributes(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let Admitted { rate, .. } = admit(&state, &headers)?;
    let body =
        serde_json::to_vec(&state.data_attributes_json(params.get("model").map(String::as_str))).expect("JSON values serialise");
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// `GET /users`: the v1 user page list.
async fn list_users(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    let Admitted { version, rate } = admit(&state, &headers)?;
    require_v1(version, rate)?;
    v1_page_list(&state, Role::User, &headers, &params, rate)
}

/// `GET /users/scroll`.
async fn scroll_users(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    scroll(&state, Role::User, &headers, &params)
}

/// `GET /contacts/scroll`: leads.
async fn scroll_leads(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, SimError> {
    scroll(&state, Role::Lead, &headers, &params)
}

fn require_v1(version: Family, rate: RateVerdict) -> Result<(), SimError> {
    if version == Family::V1 {
        return Ok(());
    }
    let message = "Requested resource is not available in current API version";
    Err(SimError::new(StatusCode::BAD_REQUEST, "intercom_version_invalid", message).with_rate(rate))
}

/// The list's `type` and the key its records sit under.
fn v1_list_names(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::User => ("user.list", "users"),
        Role::Lead => ("contact.list", "contacts"),
    }
}

fn scroll(state: &SimState, role: Role, headers: &HeaderMap, params: &HashMap<String, String>) -> Result<Response, SimError> {
    let Admitted { version, rate } = admit(state, headers)?;
    require_v1(version, rate)?;
    let param = params.get("scroll_param").map(String::as_str);
    let ws = state.workspace;
    let refuse = |status, code, message: &str| SimError::new(status, code, message).with_rate(rate);
    match state.scrolls.request(&ws, role, param, std::time::Instant::now()) {
        ScrollAnswer::Exists => Err(refuse(StatusCode::BAD_REQUEST, "scroll_exists", "scroll already exists for this workspace")),
        ScrollAnswer::NotFound => Err(refuse(StatusCode::NOT_FOUND, "not_found", "scroll parameter not found")),
        ScrollAnswer::Restart => Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "server_error", RESTART_MESSAGE)),
        ScrollAnswer::Page { indices, scroll_param } => {
            let (kind, key) = v1_list_names(role);
            let mut body = Vec::with_capacity(indices.len() * 2_600 + 128);
            body.extend_from_slice(format!(r#"{{"type":"{kind}","{key}":"#).as_bytes());
            state.write_records(RecordShape::V1, indices, &mut body).map_err(|e| e.with_rate(rate))?;
            body.extend_from_slice(br#","scroll_param":"#);
            serde_json::to_writer(&mut body, &scroll_param).expect("writing JSON to a Vec cannot fail");
            body.push(b'}');
            Ok(json_response(StatusCode::OK, body, Some(rate)))
        }
    }
}

fn v1_page_list(
    state: &SimState,
    role: Role,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    rate: RateVerdict,
) -> Result<Response, SimError> {
    let invalid = |message: String| SimError::new(StatusCode::BAD_REQUEST, "parameter_invalid", message).with_rate(rate);
    let number = |name: &str| -> Result<Option<u64>, SimError> {
        params.get(name).map(|v| v.parse::<u64>().map_err(|_| invalid(format!("{name} must be a positive integer")))).transpose()
    };
    let mut query = ListQuery::new(role);
    query.page = number("page")?.unwrap_or(1).max(1);
    query.per_page = number("per_page")?.unwrap_or(query.per_page).clamp(1, MAX_PER_PAGE_V1);
    query.created_since_days = number("created_since")?;
    if let Some(sort) = params.get("sort") {
        query.sort = Sort::parse(sort).ok_or_else(|| {
            invalid(format!("sort {sort:?} is not one of created_at, last_request_at, signed_up_at, updated_at"))
        })?;
    }
    query.descending = match params.get("order").map(String::as_str) {
        None | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            let message = format!("order {other:?} is not asc or desc");
            return Err(SimError::new(StatusCode::BAD_REQUEST, "invalid_sort_order", message).with_rate(rate));
        }
    };
    query.email = params.get("email").cloned();
    query.phone = params.get("phone").cloned();
    let ws = state.workspace;
    let (indices, total_count, total_pages, has_next) = match state.page_lists.answer(&ws, &query) {
        ListAnswer::PastCap { cap } => {
            return Err(invalid(format!("at most {cap} records can be reached by paging: use the scroll API")));
        }
        ListAnswer::Page { indices, total_count, total_pages, has_next } => (indices, total_count, total_pages, has_next),
    };
    let path = if role == Role::User { "/users" } else { "/contacts" };
    let next = has_next.then(|| next_page_url(headers, path, params, query.page + 1));
    let (kind, key) = v1_list_names(role);
    let mut body = Vec::with_capacity(indices.len() * 2_600 + 256);
    body.extend_from_slice(format!(r#"{{"type":"{kind}","total_count":{total_count},"{key}":"#).as_bytes());
    state.write_records(RecordShape::V1, indices, &mut body).map_err(|e| e.with_rate(rate))?;
    let pages = serde_json::json!({
        "type": "pages", "next": next, "page": query.page, "per_page": query.per_page, "total_pages": total_pages,
    });
    body.extend_from_slice(br#","pages":"#);
    serde_json::to_writer(&mut body, &pages).expect("writing JSON to a Vec cannot fail");
    body.push(b'}');
    Ok(json_response(StatusCode::OK, body, Some(rate)))
}

/// An opaque cursor in standard base64, so `+`, `/` and `=` must be URL-encoded as they are
/// in Intercom's own.
pub fn encode_cursor(seed: u64, next_index: u64) -> String {
    STANDARD.encode(format!("ic:{seed:x}:{next_index}:{:x}", cursor_tag(seed, next_index)))
}

/// What ties a cursor to the place it was handed out for: a cursor edited to point elsewhere is
/// refused like a garbled one.
fn cursor_tag(seed: u64, next_index: u64) -> u64 {
    crate::generator::mix64(seed.rotate_left(29) ^ next_index ^ 0x1c_c0de)
}

pub fn decode_cursor(seed: u64, cursor: &str) -> Option<u64> {
    let raw = STANDARD.decode(cursor).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.split(':');
    let (kind, cursor_seed, index, tag) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let index: u64 = index.parse().ok()?;
    let whole = kind == "ic" && u64::from_str_radix(cursor_seed, 16).ok()? == seed && parts.next().is_none();
    (whole && u64::from_str_radix(tag, 16).ok()? == cursor_tag(seed, index)).then_some(index)
}

async fn not_found(State(state): State<Arc<SimState>>, headers: HeaderMap) -> SimError {
    match admit(&state, &headers) {
        Err(refusal) => refusal,
        Ok(admitted) => SimError::new(StatusCode::NOT_FOUND, "not_found", "Resource Not Found").with_rate(admitted.rate),
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>, rate: Option<RateVerdict>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    if let Some(rate) = rate {
        headers.insert("x-ratelimit-limit", HeaderValue::from(rate.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(rate.reset_at));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_need_url_encoding() {
        let encoded: Vec<String> = (0..64).map(|i| encode_cursor(11, i * 150)).collect();
        for (i, cursor) in encoded.iter().enumerate() {
            assert_eq!(decode_cursor(11, cursor), Some(i as u64 * 150));
            assert_eq!(decode_cursor(12, cursor), None, "a cursor belongs to its workspace");
        }
        assert!(encoded.iter().any(|c| c.contains('=') || c.contains('+') || c.contains('/')));
        assert_eq!(decode_cursor(11, "not a cursor"), None);
        let forged = STANDARD.encode(format!("ic:{:x}:{}:{:x}", 11, 300, 300u64.wrapping_mul(0x9e37_79b9)));
        assert_eq!(decode_cursor(11, &forged), None, "a well-formed cursor this workspace never handed out");
    }

    #[test]
    fn a_search_page_carries_its_envelope_and_the_next_cursor_until_the_last() {
        let state = SimState::new(SimConfig::new(4, 25, "t"));
        let body = br#"{"query": {"field": "created_at", "operator": ">", "value": 0}, "pagination": {"per_page": 10}}"#;
        let request = SearchRequest::parse(body, &state.config.search).unwrap();
        let page = Search::new(&state.workspace, &request, &state.config.search).page().unwrap();
        let first: serde_json::Value = serde_json::from_slice(&render_search_page(&state, &page, 10).unwrap()).unwrap();
        assert_eq!((first["type"].as_str(), first["total_count"].as_u64()), (Some("list"), Some(25)));
        assert_eq!(first["data"].as_array().unwrap().len(), 10);
        assert_eq!((first["pages"]["page"].as_u64(), first["pages"]["total_pages"].as_u64()), (Some(1), Some(3)));
        assert_eq!(first["pages"]["next"]["page"], 2);
        assert!(first["pages"]["next"]["starting_after"].is_string());
    }

    #[test]
    fn pages_chain_to_the_end_and_count_everything() {
        let state = SimState::new(SimConfig::new(4, 25, "t"));
        let first: serde_json::Value = serde_json::from_slice(&render_cursor_page(&state, 0, 10).unwrap()).unwrap();
        assert_eq!(first["total_count"], 25);
        assert_eq!(first["pages"]["total_pages"], 3);
        assert_eq!(first["pages"]["next"]["page"], 2);
        let cursor = first["pages"]["next"]["starting_after"].as_str().unwrap();
        assert_eq!(decode_cursor(4, cursor), Some(10));
        let last: serde_json::Value = serde_json::from_slice(&render_cursor_page(&state, 20, 10).unwrap()).unwrap();
        assert_eq!(last["data"].as_array().unwrap().len(), 5);
        assert!(last["pages"].get("next").is_none());
    }

    #[test]
    fn accept_header_must_allow_json() {
        let mut headers = HeaderMap::new();
        assert!(!accepts_json(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html, application/json;q=0.9"));
        assert!(accepts_json(&headers));
        headers.insert(header::ACCEPT, HeaderValue::from_static("text/html"));
        assert!(!accepts_json(&headers));
    }
}
