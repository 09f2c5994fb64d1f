//! Retry policy, as a classifier plus a backoff: [`classify`] says what a failure deserves,
//! [`backoff`] says how long to wait between tries of the ones worth retrying.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::ExponentialBuilder;

use super::ApiError;
use crate::config::ApiConfig;

/// The longest wait a header may ask for (`Retry-After`, `X-RateLimit-Reset`): Intercom's windows
/// are 10 s, so anything longer is a server's mistake, not a reason to sleep for days.
pub(crate) const MAX_HEADER_WAIT: Duration = Duration::from_secs(60);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryAction {
    /// Transient: try again after the backoff's next delay.
    Retry,
    /// Over the rate limit: wait this long, then try again; not counted as a failure.
    WaitForWindow(Duration),
    /// Cannot succeed by trying again: stop the run.
    Fatal,
}

/// The classifier.
pub(crate) fn classify(error: &ApiError) -> RetryAction {
    match error {
        ApiError::RateLimited { reset_at, retry_after, .. } => {
            RetryAction::WaitForWindow(rate_limit_wait(*reset_at, *retry_after))
        }
        ApiError::Connect { .. } | ApiError::Timeout { .. } | ApiError::Body { .. } | ApiError::BadPage { .. } => {
            RetryAction::Retry
        }
        ApiError::Status { status, .. } => match status {
            408 | 500 | 502 | 503 | 504 => RetryAction::Retry,
            _ => RetryAction::Fatal,
        },
        ApiError::Unauthorized { .. }
        | ApiError::Forbidden { .. }
        | ApiError::NotAcceptable
        | ApiError::VersionInvalid { .. }
        | ApiError::GaveUp { .. }
        | ApiError::OutOfTime { .. }
        // Would fail the same way again.
        | ApiError::BodyTooLarge { .. }
        | ApiError::Redirect { .. }
        | ApiError::Certificate { .. }
        // The Coordinator handles these: it waits for the lock or opens a fresh scroll.
        | ApiError::ScrollExists { .. }
        | ApiError::ScrollBroken { .. } => RetryAction::Fatal,
    }
}

/// True when the request certainly never reached the listing: it can be sent again even where
/// a repeat is not harmless (an open scroll, which moves on with every page it serves). A
/// connection that never opened, a 429 (refused at the door), a 503 (shed before any work) and
/// a 408 (the request never fully arrived). A 500, 502 or 504, a timeout or a broken body may
/// come after the page was served.
pub(crate) fn certainly_unserved(error: &ApiError) -> bool {
    matches!(error, ApiError::Connect { .. } | ApiError::RateLimited { .. } | ApiError::Status { status: 503 | 408, .. })
}

/// Unix milliseconds until which requests wait, at `now_ms`, for a window that resets at `reset`
/// (Unix seconds, `X-RateLimit-Reset`): a little past it (the server's clock and ours may differ by
/// a hair), and never more than [`MAX_HEADER_WAIT`] away, whatever the header says.
pub(crate) fn pause_until(now_ms: u64, reset: u64) -> u64 {
    let until = reset.saturating_mul(1_000).saturating_add(50);
    let cap = now_ms + MAX_HEADER_WAIT.as_millis() as u64;
    if until > cap {
        tracing::warn!(
            reset,
            "X-RateLimit-Reset is {} s away, longer than any rate-limit window: waiting {} s instead",
            (until - now_ms) / 1_000,
            MAX_HEADER_WAIT.as_secs()
        );
        return cap;
    }
    until
}

/// How long a 429 waits: `Retry-After` when the server sent one, else until the window's reset,
/// plus up to a quarter of a second of jitter so that concurrent requests do not all return at
/// once.
pub(crate) fn rate_limit_wait(reset_at: Option<u64>, retry_after: Option<Duration>) -> Duration {
    let base = retry_after.unwrap_or_else(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        match reset_at {
            Some(reset) => Duration::from_secs(reset).saturating_sub(now),
            None => Duration::from_secs(10),
        }
    });
    let jitter = Duration::from_millis(fastrand::u64(0..=250));
    if base > MAX_HEADER_WAIT {
        tracing::warn!(
            "the API asked to wait {} s before the next request, longer than any rate-limit window: waiting {} s instead",
            base.as_secs(),
            MAX_HEADER_WAIT.as_secs()
        );
    }
    base.min(MAX_HEADER_WAIT) + jitter + Duration::from_millis(50)
}

/// Exponential backoff with jitter, bounded in count and in total time.
pub(crate) fn backoff(config: &ApiConfig) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(20))
        .with_max_times(config.max_retries)
        .with_total_delay(Some(config.max_retry_elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::ApiVersion;

    fn status(status: u16) -> ApiError {
        ApiError::Status { status, code: String::new(), message: String::new(), request_id: None }
    }

    #[test]
    fn transient_failures_retry_and_the_rest_stop() {
        for s in [408, 500, 502, 503, 504] {
            assert_eq!(classify(&status(s)), RetryAction::Retry, "{s}");
        }
        for s in [400, 404, 409, 422] {
            assert_eq!(classify(&status(s)), RetryAction::Fatal, "{s}");
        }
        assert_eq!(classify(&ApiError::Unauthorized { code: "unauthorized".into() }), RetryAction::Fatal);
        assert_eq!(classify(&ApiError::NotAcceptable), RetryAction::Fatal);
        let version = ApiError::VersionInvalid { version: ApiVersion::V2(14), message: String::new() };
        assert_eq!(classify(&version), RetryAction::Fatal);
        assert_eq!(classify(&ApiError::BadPage { reason: "cut".into() }), RetryAction::Retry);
        assert_eq!(classify(&ApiError::Connect { reason: "refused".into() }), RetryAction::Retry);
    }

    #[test]
    fn a_reset_far_off_waits_a_minute_at_most() {
        let now_ms = 1_700_000_000_000;
        assert_eq!(pause_until(now_ms, 1_700_000_005), 1_700_000_005_050);
        assert_eq!(pause_until(now_ms, 99_999_999_999), now_ms + 60_000);
        assert_eq!(pause_until(now_ms, u64::MAX), now_ms + 60_000);
        let far = rate_limit_wait(None, Some(Duration::from_secs(99_999_999)));
        assert!(far <= MAX_HEADER_WAIT + Duration::from_secs(1), "{far:?}");
    }

    #[test]
    fn rate_limit_waits_for_retry_after_or_the_reset() {
        let wait = rate_limit_wait(None, Some(Duration::from_secs(3)));
        assert!(wait >= Duration::from_secs(3) && wait < Duration::from_secs(5), "{wait:?}");
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let wait = rate_limit_wait(Some(now + 2), None);
        assert!(wait >= Duration::from_millis(1_000) && wait < Duration::from_secs(4), "{wait:?}");
        assert!(rate_limit_wait(Some(now - 100), None) < Duration::from_secs(1));
    }
}

#[cfg(test)]
mod messages {
    use super::*;

    #[test]
    fn a_403_says_what_to_do_for_its_code() {
        let plan = ApiError::Forbidden { code: "api_plan_restricted".into(), message: "Active subscription needed.".into() };
        assert!(plan.to_string().contains("plan") && plan.to_string().contains("api_plan_restricted"), "{plan}");
        let permission = ApiError::Forbidden { code: "token_unauthorized".into(), message: String::new() };
        assert!(permission.to_string().contains("permission"), "{permission}");
        assert_eq!(classify(&plan), RetryAction::Fatal);
    }
}
