//! The search listing (`POST /contacts/search`): the workspace's `created_at` time line cut into
//! windows, each walked by a cursor of its own, several at once. It starts by asking for the
//! oldest and the newest contact (a page of one each, which also says how many there are), cuts
//! the span between them into windows of equal time, and then keeps up to `concurrency` windows
//! going, a page in flight each, handing pages on as they arrive, whichever window's.
//!
//! Each window is a query of the form `(created_at = t OR created_at > t) AND created_at < t2`
//! ([`Window::query`]), sorted by `created_at`, which never changes: windows that share their
//! cuts cover the time line exactly whether the API matches dates by the second or by the day,
//! in whatever time zone. A record seen in two windows is written once (the Coordinator
//! deduplicates by id); the count the API announced for the whole search is what the output is
//! checked against.
//!
//! Not yet: windows balanced on the counts the API reports (an import day holding half the
//! workspace is one window here), concurrency following the rate limit, and resuming.

use std::time::{Duration, Instant};

use super::{Call, Listing, ListingError, ListingGuard, Step, Window};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

#[derive(Debug, Clone, PartialEq, Eq)]
enum WindowState {
    /// Not started.
    Waiting,
    /// Its next page is to be asked for at this cursor (`None`: its first).
    Ready(Option<String>),
    InFlight,
    Done,
}

enum Phase {
    /// The oldest and newest contact asked for (`sent`), and what came back.
    Probing {
        sent: u8,
        oldest: Option<Option<i64>>,
        newest: Option<Option<i64>>,
    },
    /// The windows, each with its state.
    Walking(Vec<(Window, WindowState)>),
    Done,
}

pub(crate) struct SearchListing {
    per_page: usize,
    windows: usize,
    concurrency: usize,
    phase: Phase,
    guard: ListingGuard,
}

impl SearchListing {
    pub(crate) fn new(per_page: usize, windows: usize, concurrency: usize, guard: ListingGuard) -> SearchListing {
        SearchListing {
            per_page,
            windows: windows.max(1),
            concurrency: concurrency.max(1),
            phase: Phase::Probing { sent: 0, oldest: None, newest: None },
            guard,
        }
    }

    /// Cuts `[oldest, newest]` into windows of equal time, the first open below and the last open
    /// above, so that nothing falls outside whatever the clock did meanwhile.
    /// In 128 bits: a server's times can be anywhere in `i64`, and so can their difference.
    fn plan(&self, oldest: i64, newest: i64) -> Vec<(Window, WindowState)> {
        let (oldest, newest) = (i128::from(oldest), i128::from(newest));
        let span = (newest - oldest + 1).max(1);
        let count = (self.windows as i128).min(span);
        // Every cut lies in [oldest, newest], so it fits an i64.
        let cuts = (1..count).map(|k| Some((oldest + span * k / count) as i64));
        let edges: Vec<Option<i64>> = std::iter::once(None).chain(cuts).chain(std::iter::once(None)).collect();
        edges
            .windows(2)
            .enumerate()
            .map(|(index, pair)| (Window { index: index as u32, from: pair[0], to: pair[1] }, WindowState::Waiting))
            .collect()
    }
}

/// The `created_at` of the first record of `page`; `None` for an empty page. A page whose record
/// has no readable `created_at` is not a search page.
fn first_created_at(page: &FetchedPage) -> Result<Option<i64>, ListingError> {
    if page.is_empty() {
        return Ok(None);
    }
    let bad = |reason: String| ListingError::Failed(ApiError::BadPage { reason });
    let records: Vec<serde_json::Value> =
        serde_json::from_slice(page.records_json()).map_err(|e| bad(format!("a search probe is not a list of records: {e}")))?;
    let created_at = records.first().and_then(|r| r.get("created_at")).and_then(serde_json::Value::as_i64);
    created_at.map(Some).ok_or_else(|| bad("a search probe's record has no created_at".into()))
}

impl Listing for SearchListing {
    fn next(&mut self, room: bool, _now: Instant) -> Step {
        let send = |call| Step::Send { call, after: Duration::ZERO };
        match &mut self.phase {
            Phase::Probing { sent: sent @ 0, .. } => {
                *sent = 1;
                send(Call::Probe { newest: false })
            }
            Phase::Probing { sent: sent @ 1, .. } => {
                *sent = 2;
                send(Call::Probe { newest: true })
            }
            Phase::Probing { .. } => Step::Wait,
            Phase::Done => Step::Done,
            Phase::Walking(windows) => {
                if windows.iter().all(|(_, state)| *state == WindowState::Done) {
                    self.phase = Phase::Done;
                    return Step::Done;
                }
                if !room {
                    return Step::Wait;
                }
                let in_flight = windows.iter().filter(|(_, state)| *state == WindowState::InFlight).count();
                if in_flight >= self.concurrency {
                    return Step::Wait;
                }
                // Windows already going first, then the next not started, while fewer than
                // `concurrency` are going.
                let going = windows.iter().filter(|(_, s)| matches!(s, WindowState::Ready(_) | WindowState::InFlight)).count();
                let pick = windows.iter().position(|(_, s)| matches!(s, WindowState::Ready(_))).or_else(|| {
                    (going < self.concurrency).then(|| windows.iter().position(|(_, s)| *s == WindowState::Waiting)).flatten()
                });
                let Some(at) = pick else { return Step::Wait };
                let (window, state) = &mut windows[at];
                let starting_after = match std::mem::replace(state, WindowState::InFlight) {
                    WindowState::Ready(cursor) => cursor,
                    _ => None,
                };
                send(Call::Search { window: *window, starting_after })
            }
        }
    }

    fn page_arrived(
        &mut self,
        call: &Call,
        page: ListedPage,
        _now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        match (call, &mut self.phase) {
            (Call::Probe { newest }, Phase::Probing { oldest, newest: latest, .. }) => {
                // The count of the whole search is what the output is checked against.
                self.guard.page(true, page.total_count, None)?;
                let at = first_created_at(&page.page)?;
                if *newest {
                    *latest = Some(at)
                } else {
                    *oldest = Some(at)
                }
                if let (Some(first), Some(last)) = (*oldest, *latest) {
                    self.phase = match (first, last) {
                        (Some(first), Some(last)) => Phase::Walking(self.plan(first.min(last), first.max(last))),
                        _ => Phase::Done,
                    };
                }
                Ok(())
            }
            (Call::Search { window, .. }, Phase::Walking(windows)) => {
                self.guard.page(!page.page.is_empty(), None, page.next.as_deref())?;
                let state = &mut windows[window.index as usize].1;
                *state = match page.next {
                    Some(next) => WindowState::Ready(Some(next)),
                    None => WindowState::Done,
                };
                if !page.page.is_empty() {
                    ready.push(page.page);
                }
                Ok(())
            }
            _ => Err(ListingError::Failed(ApiError::BadPage { reason: "a search answer came for no call in flight".into() })),
        }
    }

    fn request_failed(&mut self, _call: &Call, error: ApiError, _now: Instant) -> Result<(), ListingError> {
        Err(ListingError::Failed(error))
    }

    fn can_pause(&self) -> bool {
        true
    }

    fn resumable(&self) -> bool {
        false
    }

    fn records_per_page(&self) -> usize {
        self.per_page
    }

    fn mode(&self) -> Mode {
        Mode::Search
    }

    fn guard_mut(&mut self) -> &mut ListingGuard {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::listing::testing::page;

    /// A probe's answer: one record created at `at` (none when `None`), `total` in all.
    fn probe(at: Option<i64>, total: u64) -> ListedPage {
        let mut answer = page(0, None, Some(total));
        if let Some(at) = at {
            let body = format!("[{{\"id\":\"a\",\"created_at\":{at}}}]");
            answer.page.records = 0..body.len();
            answer.page.body = Bytes::from(body);
        }
        answer
    }

    fn sends(listing: &mut SearchListing, room: bool) -> Vec<Call> {
        let mut calls = Vec::new();
        while let Step::Send { call, .. } = listing.next(room, Instant::now()) {
            calls.push(call);
        }
        calls
    }

    fn arrive(listing: &mut SearchListing, call: &Call, answer: ListedPage) -> usize {
        let mut ready = Vec::new();
        listing.page_arrived(call, answer, Instant::now(), &mut ready).unwrap();
        ready.len()
    }

    #[test]
    fn probes_then_walks_windows_that_cover_the_time_line_a_few_at_once() {
        let mut listing = SearchListing::new(150, 4, 2, ListingGuard::new(1_000));
        let probes = sends(&mut listing, true);
        assert_eq!(probes, [Call::Probe { newest: false }, Call::Probe { newest: true }]);
        arrive(&mut listing, &probes[0], probe(Some(1_000), 500));
        assert!(sends(&mut listing, true).is_empty(), "waits for the other probe");
        arrive(&mut listing, &probes[1], probe(Some(1_999), 500));
        let Phase::Walking(windows) = &listing.phase else { panic!("planned") };
        let bounds: Vec<(Option<i64>, Option<i64>)> = windows.iter().map(|(w, _)| (w.from, w.to)).collect();
        assert_eq!(bounds, [(None, Some(1_250)), (Some(1_250), Some(1_500)), (Some(1_500), Some(1_750)), (Some(1_750), None)]);

        let first = sends(&mut listing, true);
        assert_eq!(first.len(), 2, "two windows at once: {first:?}");
        assert!(sends(&mut listing, false).is_empty());
        // Window 0 goes on; window 1 ends; window 2 starts in its place.
        assert_eq!(arrive(&mut listing, &first[0], page(150, Some("w0-p2"), None)), 1);
        assert_eq!(arrive(&mut listing, &first[1], page(3, None, None)), 1);
        let next = sends(&mut listing, true);
        let Call::Search { window, starting_after } = &next[0] else { panic!() };
        assert_eq!((window.index, starting_after.as_deref()), (0, Some("w0-p2")), "a window going before a new one");
        let Call::Search { window, starting_after: None } = &next[1] else { panic!("{next:?}") };
        assert_eq!(window.index, 2);
        for call in &next {
            arrive(&mut listing, call, page(1, None, None));
        }
        let last = sends(&mut listing, true);
        assert_eq!(last.len(), 1);
        arrive(&mut listing, &last[0], page(0, None, None));
        assert_eq!(listing.next(true, Instant::now()), Step::Done);
        assert_eq!(listing.guard_mut().announced(), Some((500, 500)), "the probes' count is the whole search's");
    }

    #[test]
    fn times_anywhere_in_i64_are_planned_without_overflow() {
        let listing = SearchListing::new(150, 64, 4, ListingGuard::new(1_000));
        for (oldest, newest) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MAX), (-1, 0), (0, 0)] {
            let windows = listing.plan(oldest, newest);
            assert_eq!(windows.first().unwrap().0.from, None, "open below");
            assert_eq!(windows.last().unwrap().0.to, None, "open above");
            for pair in windows.windows(2) {
                assert_eq!(pair[0].0.to, pair[1].0.from, "{oldest}..{newest}: windows share their cuts");
            }
        }
        assert_eq!(listing.plan(i64::MIN, i64::MAX).len(), 64);
        assert_eq!(listing.plan(5, 5).len(), 1, "one second: one window");
    }

    #[test]
    fn an_empty_workspace_is_done_after_the_probes() {
        let mut listing = SearchListing::new(150, 8, 4, ListingGuard::new(1_000));
        for call in sends(&mut listing, true) {
            arrive(&mut listing, &call, probe(None, 0));
        }
        assert_eq!(listing.next(true, Instant::now()), Step::Done);
    }

    #[test]
    fn the_window_queries_and_bodies_are_intercoms() {
        let window = Window { index: 3, from: Some(100), to: Some(200) };
        let body = Call::Search { window, starting_after: Some("c".into()) }.search_body(150).unwrap();
        assert_eq!(body["pagination"], serde_json::json!({"per_page": 150, "starting_after": "c"}));
        assert_eq!(body["sort"], serde_json::json!({"field": "created_at", "order": "ascending"}));
        assert_eq!(body["query"]["operator"], "AND");
        assert_eq!(
            body["query"]["value"][0]["value"][1],
            serde_json::json!({"field": "created_at", "operator": ">", "value": 100})
        );
        assert_eq!(body["query"]["value"][1], serde_json::json!({"field": "created_at", "operator": "<", "value": 200}));
        let probe = Call::Probe { newest: true }.search_body(150).unwrap();
        assert_eq!((probe["pagination"]["per_page"].as_u64(), probe["sort"]["order"].as_str()), (Some(1), Some("descending")));
    }
}
