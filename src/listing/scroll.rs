//! The v1 scroll: one scroll open at a time on a workspace, each page naming the next
//! (`scroll_param`), expiring a minute after its last use. So the listing never pauses (pages
//! past the budget wait on disk), waits out another client's scroll holding the workspace's
//! lock (polling until a deadline), and opens a fresh scroll when the open one breaks (the
//! records it serves again are deduplicated downstream). It cannot resume: a fresh scroll starts
//! from the beginning.

use std::time::{Duration, Instant};

use super::{Call, Listing, ListingError, ListingGuard, Step};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

use crate::config::SCROLL_PAGE_SIZE;

/// How a scroll is kept going.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScrollRules {
    /// Fresh scrolls opened after one broke, before giving up.
    pub max_restarts: u32,
    /// How long another client's scroll may hold the lock.
    pub lock_wait: Duration,
    /// How often opening is tried again meanwhile.
    pub lock_poll: Duration,
}

pub(crate) struct ScrollListing {
    rules: ScrollRules,
    /// The call to send next, and how long to wait first.
    pending: Option<(Call, Duration)>,
    in_flight: bool,
    done: bool,
    /// Until when another scroll's lock is waited out, once one was met.
    lock_deadline: Option<Instant>,
    last_param: Option<String>,
    params_rotate: bool,
    restarts: u32,
    guard: ListingGuard,
}

fn opening() -> Call {
    Call::Scroll { param: None, params_rotate: false }
}

impl ScrollListing {
    pub(crate) fn new(rules: ScrollRules, guard: ListingGuard) -> ScrollListing {
        ScrollListing {
            rules,
            pending: Some((opening(), Duration::ZERO)),
            in_flight: false,
            done: false,
            lock_deadline: None,
            last_param: None,
            params_rotate: false,
            restarts: 0,
            guard,
        }
    }

    fn reopen(&mut self, after: Duration) {
        self.last_param = None;
        self.params_rotate = false;
        self.pending = Some((opening(), after));
    }
}

impl Listing for ScrollListing {
    /// `room` is not asked: an idle scroll expires.
    fn next(&mut self, _room: bool, _now: Instant) -> Step {
        if self.done {
            return Step::Done;
        }
        if self.in_flight {
            return Step::Wait;
        }
        match self.pending.take() {
            Some((call, after)) => {
                self.in_flight = true;
                Step::Send { call, after }
            }
            None => Step::Wait,
        }
    }

    fn page_arrived(
        &mut self,
        _call: &Call,
        page: ListedPage,
        _now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        self.in_flight = false;
        self.lock_deadline = None;
        if page.page.is_empty() {
            // The end: the API has let the scroll go.
            self.done = true;
            return Ok(());
        }
        let param = page
            .next
            .clone()
            .ok_or_else(|| ListingError::Failed(ApiError::BadPage { reason: "a scroll page without scroll_param".into() }))?;
        if self.last_param.as_ref().is_some_and(|last| *last != param) {
            self.params_rotate = true;
        }
        // A param that stays the same on every page is the API's way; one that rotates must not
        // come back.
        self.guard.page(true, None, self.params_rotate.then_some(param.as_str()))?;
        self.last_param = Some(param.clone());
        self.pending = Some((Call::Scroll { param: Some(param), params_rotate: self.params_rotate }, Duration::ZERO));
        ready.push(page.page);
        Ok(())
    }

    fn request_failed(&mut self, _call: &Call, error: ApiError, now: Instant) -> Result<(), ListingError> {
        self.in_flight = false;
        match error {
            ApiError::ScrollExists { .. } => {
                let deadline = *self.lock_deadline.get_or_insert(now + self.rules.lock_wait);
                if now >= deadline {
                    return Err(ListingError::ScrollLocked { waited_secs: self.rules.lock_wait.as_secs() });
                }
                let left = deadline - now;
                tracing::warn!(
                    "another scroll holds this workspace's scroll lock; waiting for it to finish or expire (up to {} s more)",
                    left.as_secs()
                );
                self.reopen(self.rules.lock_poll.min(left));
                Ok(())
            }
            ApiError::ScrollBroken { .. } => {
                self.restarts += 1;
                if self.restarts > self.rules.max_restarts {
                    return Err(ListingError::TooManyRestarts { restarts: self.restarts - 1, last: error });
                }
                tracing::warn!(%error, restart = self.restarts, "opening a fresh scroll; records already written are skipped");
                self.guard.restarted();
                self.reopen(Duration::ZERO);
                Ok(())
            }
            error => Err(ListingError::Failed(error)),
        }
    }

    fn can_pause(&self) -> bool {
        false
    }

    fn resumable(&self) -> bool {
        false
    }

    fn records_per_page(&self) -> usize {
        SCROLL_PAGE_SIZE
    }

    fn mode(&self) -> Mode {
        Mode::Scroll
    }

    fn restarts(&self) -> u32 {
        self.restarts
    }

    fn guard_mut(&mut self) -> &mut ListingGuard {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ScrollBreak;
    use crate::listing::LoopError;
    use crate::listing::testing::page;

    const RULES: ScrollRules =
        ScrollRules { max_restarts: 2, lock_wait: Duration::from_secs(120), lock_poll: Duration::from_secs(5) };

    fn scroll() -> ScrollListing {
        ScrollListing::new(RULES, ListingGuard::new(1_000))
    }

    fn send(listing: &mut ScrollListing, now: Instant) -> (Call, Duration) {
        match listing.next(false, now) {
            Step::Send { call, after } => (call, after),
            step => panic!("expected a request, got {step:?}"),
        }
    }

    fn locked() -> ApiError {
        ApiError::ScrollExists { message: "scroll exists".into() }
    }

    fn broken() -> ApiError {
        ApiError::ScrollBroken { cause: ScrollBreak::Expired, detail: "gone".into() }
    }

    #[test]
    fn never_pauses_and_ends_on_an_empty_page() {
        let now = Instant::now();
        let mut listing = scroll();
        assert!(!listing.can_pause() && !listing.resumable());
        let (open, _) = send(&mut listing, now);
        assert_eq!(open, Call::Scroll { param: None, params_rotate: false });
        let mut ready = Vec::new();
        listing.page_arrived(&open, page(100, Some("p"), None), now, &mut ready).unwrap();
        let (call, after) = send(&mut listing, now);
        assert_eq!((call.clone(), after), (Call::Scroll { param: Some("p".into()), params_rotate: false }, Duration::ZERO));
        assert_eq!(ready[0].resume_at, None, "a scroll cannot resume");
        listing.page_arrived(&call, page(0, Some("p"), None), now, &mut ready).unwrap();
        assert_eq!(listing.next(true, now), Step::Done);
        assert_eq!(ready.len(), 1);
    }

    #[test]
    fn a_held_lock_is_polled_until_its_deadline_on_the_injected_clock() {
        let t0 = Instant::now();
        let mut listing = scroll();
        let (open, _) = send(&mut listing, t0);
        listing.request_failed(&open, locked(), t0).unwrap();
        let (call, after) = send(&mut listing, t0);
        assert_eq!((call, after), (opening(), RULES.lock_poll), "tries to open again after the poll interval");
        // 118 s on, two seconds are left: the next try waits only those.
        let t1 = t0 + Duration::from_secs(118);
        listing.request_failed(&open, locked(), t1).unwrap();
        assert_eq!(send(&mut listing, t1).1, Duration::from_secs(2));
        let error = listing.request_failed(&open, locked(), t0 + RULES.lock_wait).unwrap_err();
        assert!(matches!(error, ListingError::ScrollLocked { waited_secs: 120 }), "{error}");
    }

    #[test]
    fn the_lock_deadline_starts_again_after_a_page() {
        let t0 = Instant::now();
        let mut listing = scroll();
        let (open, _) = send(&mut listing, t0);
        listing.request_failed(&open, locked(), t0).unwrap();
        let (open, _) = send(&mut listing, t0);
        listing.page_arrived(&open, page(100, Some("p"), None), t0, &mut Vec::new()).unwrap();
        let (call, _) = send(&mut listing, t0);
        listing.request_failed(&call, broken(), t0).unwrap();
        let (open, _) = send(&mut listing, t0);
        let later = t0 + Duration::from_secs(200);
        listing.request_failed(&open, locked(), later).unwrap();
        assert_eq!(send(&mut listing, later).1, RULES.lock_poll, "a fresh wait, not the first one's deadline");
    }

    #[test]
    fn a_broken_scroll_is_reopened_up_to_the_restart_limit() {
        let now = Instant::now();
        let mut listing = scroll();
        for restart in 1..=RULES.max_restarts + 1 {
            let (open, _) = send(&mut listing, now);
            assert_eq!(open, opening(), "a fresh scroll each time");
            listing.page_arrived(&open, page(100, Some("p"), None), now, &mut Vec::new()).unwrap();
            let (call, _) = send(&mut listing, now);
            let result = listing.request_failed(&call, broken(), now);
            if restart <= RULES.max_restarts {
                result.unwrap();
                assert_eq!(listing.restarts(), restart);
            } else {
                let error = result.unwrap_err();
                assert!(matches!(error, ListingError::TooManyRestarts { restarts: 2, .. }), "{error}");
            }
        }
    }

    #[test]
    fn a_rotating_param_must_not_come_back() {
        let now = Instant::now();
        let mut listing = scroll();
        let mut ready = Vec::new();
        let (open, _) = send(&mut listing, now);
        listing.page_arrived(&open, page(100, Some("a"), None), now, &mut ready).unwrap();
        let (call, _) = send(&mut listing, now);
        listing.page_arrived(&call, page(100, Some("b"), None), now, &mut ready).unwrap();
        let (call, _) = send(&mut listing, now);
        assert_eq!(call, Call::Scroll { param: Some("b".into()), params_rotate: true }, "the rotation is noticed");
        listing.page_arrived(&call, page(100, Some("c"), None), now, &mut ready).unwrap();
        let (call, _) = send(&mut listing, now);
        let error = listing.page_arrived(&call, page(100, Some("b"), None), now, &mut ready).unwrap_err();
        assert!(matches!(error, ListingError::Loop(LoopError::RepeatedCursor { .. })), "{error}");
    }
}
