//! The simulator's rate limit: a request count per fixed window aligned on Unix time, as
//! Intercom counts them (10 s windows), with the numbers its `X-RateLimit-*` headers carry.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// What a request learns from the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateVerdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the current window ends.
    pub reset_at: u64,
}

#[derive(Debug)]
pub struct WindowLimiter {
    limit: u32,
    window_secs: u64,
    // (window number, requests counted in it)
    current: Mutex<(u64, u32)>,
}

impl WindowLimiter {
    pub fn new(limit: u32, window_secs: u64) -> Self {
        WindowLimiter { limit, window_secs: window_secs.max(1), current: Mutex::new((0, 0)) }
    }

    /// Count one request now.
    pub fn check(&self) -> RateVerdict {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.check_at(now)
    }

    pub fn check_at(&self, now_secs: u64) -> RateVerdict {
        let window = now_secs / self.window_secs;
        let mut current = self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if current.0 != window {
            *current = (window, 0);
        }
        let allowed = current.1 < self.limit;
        if allowed {
            current.1 += 1;
        }
        RateVerdict { allowed, limit: self.limit, remaining: self.limit - current.1, reset_at: (window + 1) * self.window_secs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_window_and_resets_on_the_next() {
        let limiter = WindowLimiter::new(2, 10);
        let first = limiter.check_at(1_000);
        assert_eq!((first.allowed, first.remaining, first.reset_at), (true, 1, 1_010));
        assert!(limiter.check_at(1_005).allowed);
        let refused = limiter.check_at(1_009);
        assert_eq!((refused.allowed, refused.remaining), (false, 0));
        assert!(limiter.check_at(1_010).allowed);
    }
}
