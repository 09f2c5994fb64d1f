//! The Intercom API client layer: HTTP through one rate limiter (`client`), the wire
//! format of pages and error envelopes ([`wire`]), which failures are worth another try
//! (`retry`), the token kept out of every answer (`scrub`), and text that is not text
//! replaced ([`sanitize`]). Plain async Rust: the Fetcher actor owns an `ApiClient`, and
//! `walk` drives one alone. Public: the errors, the counters a summary reports, and the page
//! envelope readers (the benches and tests use them).

pub(crate) mod client;
pub(crate) mod retry;
pub mod sanitize;
pub(crate) mod scrub;
pub mod wire;

use std::time::Duration;

pub use client::ApiStatsSnapshot;
pub(crate) use client::{ApiClient, ApiStats, Endpoints, RateLimiter, new_rate_limiter};
pub use wire::{FetchedPage, ListedPage};

use crate::version::ApiVersion;

/// What went wrong talking to the API. Variants carry what a caller branches on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    #[error("the API refused the access token (HTTP 401 {code}): check that INTERCOM_TOKEN holds a valid, unrevoked token")]
    Unauthorized { code: String },
    #[error("the token may not read this (HTTP 403 {code}: {message}): {}", forbidden_fix(.code))]
    Forbidden { code: String, message: String },
    #[error(
        "the API refused the request's Accept header (HTTP 406): intercom-dump sends application/json, so check any proxy in between"
    )]
    NotAcceptable,
    #[error(
        "API version {version} does not serve this listing (HTTP 400 intercom_version_invalid: {message}): pass a matching --api-version"
    )]
    VersionInvalid { version: ApiVersion, message: String },
    #[error("rate limited (HTTP 429): {message}")]
    RateLimited { reset_at: Option<u64>, retry_after: Option<Duration>, message: String },
    #[error("HTTP {status} {code}: {message}")]
    Status { status: u16, code: String, message: String, request_id: Option<String> },
    #[error("could not connect to the API: {reason}; check --base-url and the network")]
    Connect { reason: String },
    #[error("the request timed out: {reason}")]
    Timeout { reason: String },
    #[error("the answer was cut off or unreadable: {reason}")]
    Body { reason: String },
    #[error("the answer is not a valid page: {reason}")]
    BadPage { reason: String },
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp { attempts: usize, last: Box<ApiError> },
    #[error(
        "gave up after {seconds} s of trying ({attempts} attempts, the most --max-retry-elapsed allows; raise it to wait longer): {last}"
    )]
    OutOfTime { attempts: usize, seconds: u64, last: Box<ApiError> },
    #[error(
        "an answer was larger than --max-body-bytes ({limit} bytes): a page of contacts is a few MB at most, so the server is misbehaving; raise --max-body-bytes if its records really are that large"
    )]
    BodyTooLarge { limit: usize },
    #[error("{}", redirect_message(.to, *.insecure))]
    Redirect { to: String, insecure: bool },
    #[error("the API's TLS certificate was refused ({reason}): {fix}")]
    Certificate { reason: String, fix: &'static str },
    #[error("another scroll is open on this workspace (HTTP 400 scroll_exists): {message}")]
    ScrollExists { message: String },
    #[error("the scroll broke ({cause}: {detail}): it must be opened again from the start")]
    ScrollBroken { cause: ScrollBreak, detail: String },
}

/// What to do about a 403, by its code.
fn forbidden_fix(code: &str) -> &'static str {
    match code {
        "api_plan_restricted" => {
            "the workspace's Intercom plan does not include API access to this; upgrade the plan or ask Intercom"
        }
        "token_unauthorized" | "forbidden" => {
            "give the app the 'Read and list users and companies' permission in the Developer Hub"
        }
        _ => "give the app permission to read contacts, or check the workspace's plan",
    }
}

fn redirect_message(to: &str, insecure: bool) -> String {
    if insecure {
        format!(
            "the API redirected to plain http ({to}): refusing to read contact data unencrypted; check --base-url and any proxy in between"
        )
    } else {
        format!("the API redirected more than 10 times (last to {to}): check --base-url")
    }
}

/// Why an open scroll cannot go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollBreak {
    /// 404: the scroll_param expired or is unknown.
    Expired,
    /// The documented 500 "... Please restart the scroll operation."
    RestartRequired,
    /// A failure after which the server may or may not have moved the scroll on: asking again
    /// with the same param could skip a page.
    Uncertain,
}

impl std::fmt::Display for ScrollBreak {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ScrollBreak::Expired => "expired",
            ScrollBreak::RestartRequired => "the API asked for a restart",
            ScrollBreak::Uncertain => "a failed request may have moved it on",
        })
    }
}

impl ApiError {
    /// The HTTP status behind this error, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotAcceptable => Some(406),
            ApiError::VersionInvalid { .. } => Some(400),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Status { status, .. } => Some(*status),
            ApiError::GaveUp { last, .. } | ApiError::OutOfTime { last, .. } => last.status(),
            ApiError::ScrollExists { .. } => Some(400),
            _ => None,
        }
    }

    /// True when the credentials or permissions are at fault: retrying cannot help.
    pub fn is_auth(&self) -> bool {
        match self {
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. } => true,
            ApiError::GaveUp { last, .. } | ApiError::OutOfTime { last, .. } => last.is_auth(),
            _ => false,
        }
    }
}
