//! The v2 cursor list: one page at a time, each naming the next (`starting_after`). A cursor
//! does not expire, so the listing pauses while the memory budget is full; its resume token is
//! the cursor of the page after the last one written.

use std::time::{Duration, Instant};

use super::{Call, Listing, ListingError, ListingGuard, Step};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

#[derive(Debug)]
enum State {
    /// The next page to ask for: the first when `None`.
    Ready(Option<String>),
    InFlight,
    Done,
}

pub(crate) struct CursorListing {
    state: State,
    per_page: usize,
    /// Started from a checkpoint's cursor, and no page has arrived yet.
    resuming: bool,
    guard: ListingGuard,
}

impl CursorListing {
    pub(crate) fn new(per_page: usize, resume_at: Option<String>, guard: ListingGuard) -> CursorListing {
        CursorListing { resuming: resume_at.is_some(), state: State::Ready(resume_at), per_page, guard }
    }
}

impl Listing for CursorListing {
    fn next(&mut self, room: bool, _now: Instant) -> Step {
        match &mut self.state {
            State::Ready(cursor) if room => {
                let call = Call::Cursor { starting_after: cursor.take() };
                self.state = State::InFlight;
                Step::Send { call, after: Duration::ZERO }
            }
            State::Ready(_) | State::InFlight => Step::Wait,
            State::Done => Step::Done,
        }
    }

    fn page_arrived(
        &mut self,
        _call: &Call,
        mut page: ListedPage,
        _now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        self.resuming = false;
        self.guard.page(!page.page.is_empty(), page.total_count, page.next.as_deref())?;
        // An empty page that hands out a cursor is followed: only a page without one ends the
        // listing (the guard stops a run of empty pages, the count check an end that comes early).
        page.page.resume_at = page.next.clone();
        self.state = match page.next {
            Some(next) => State::Ready(Some(next)),
            None => State::Done,
        };
        if !page.page.is_empty() {
            ready.push(page.page);
        }
        Ok(())
    }

    fn request_failed(&mut self, call: &Call, error: ApiError, _now: Instant) -> Result<(), ListingError> {
        let resumed_first = self.resuming && matches!(call, Call::Cursor { starting_after: Some(_) });
        if resumed_first && matches!(error.status(), Some(400 | 404)) {
            return Err(ListingError::ResumeRefused(error));
        }
        Err(ListingError::Failed(error))
    }

    fn can_pause(&self) -> bool {
        true
    }

    fn resumable(&self) -> bool {
        true
    }

    fn records_per_page(&self) -> usize {
        self.per_page
    }

    fn mode(&self) -> Mode {
        Mode::Cursor
    }

    fn guard_mut(&mut self) -> &mut ListingGuard {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::LoopError;
    use crate::listing::testing::page;

    fn listing(resume_at: Option<&str>) -> CursorListing {
        CursorListing::new(150, resume_at.map(str::to_string), ListingGuard::new(1_000))
    }

    fn send(listing: &mut CursorListing, now: Instant) -> Call {
        match listing.next(true, now) {
            Step::Send { call, after } => {
                assert_eq!(after, Duration::ZERO);
                call
            }
            step => panic!("expected a request, got {step:?}"),
        }
    }

    #[test]
    fn follows_the_cursor_one_page_at_a_time_and_pauses_without_room() {
        let now = Instant::now();
        let mut cursor = listing(None);
        assert_eq!(send(&mut cursor, now), Call::Cursor { starting_after: None });
        assert_eq!(cursor.next(true, now), Step::Wait, "one page in flight at a time");
        let mut ready = Vec::new();
        cursor.page_arrived(&Call::Cursor { starting_after: None }, page(3, Some("c2"), Some(5)), now, &mut ready).unwrap();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].resume_at.as_deref(), Some("c2"), "the token goes on after this page");
        assert_eq!(cursor.next(false, now), Step::Wait, "no room: a cursor pauses");
        let call = send(&mut cursor, now);
        assert_eq!(call, Call::Cursor { starting_after: Some("c2".into()) });
        cursor.page_arrived(&call, page(2, None, Some(5)), now, &mut ready).unwrap();
        assert_eq!(cursor.next(true, now), Step::Done);
        assert_eq!(cursor.guard_mut().announced(), Some((5, 5)));
    }

    #[test]
    fn an_empty_page_with_a_cursor_is_followed_and_a_repeated_cursor_stops() {
        let now = Instant::now();
        let mut cursor = listing(None);
        let first = send(&mut cursor, now);
        let mut ready = Vec::new();
        cursor.page_arrived(&first, page(0, Some("a"), None), now, &mut ready).unwrap();
        assert!(ready.is_empty(), "an empty page is not handed on");
        let call = send(&mut cursor, now);
        cursor.page_arrived(&call, page(1, Some("b"), None), now, &mut ready).unwrap();
        let call = send(&mut cursor, now);
        let error = cursor.page_arrived(&call, page(1, Some("a"), None), now, &mut ready).unwrap_err();
        assert!(matches!(error, ListingError::Loop(LoopError::RepeatedCursor { .. })), "{error}");
    }

    #[test]
    fn a_refused_resume_token_is_told_apart_from_a_failure() {
        let now = Instant::now();
        let not_found = ApiError::Status { status: 404, code: "not_found".into(), message: "".into(), request_id: None };
        let mut resumed = listing(Some("old"));
        let call = send(&mut resumed, now);
        assert_eq!(call, Call::Cursor { starting_after: Some("old".into()) });
        let error = resumed.request_failed(&call, not_found.clone(), now).unwrap_err();
        assert!(matches!(error, ListingError::ResumeRefused(_)), "{error}");

        let mut resumed = listing(Some("old"));
        let call = send(&mut resumed, now);
        resumed.page_arrived(&call, page(1, Some("next"), None), now, &mut Vec::new()).unwrap();
        let call = send(&mut resumed, now);
        let error = resumed.request_failed(&call, not_found, now).unwrap_err();
        assert!(matches!(error, ListingError::Failed(_)), "past the first page a 404 is a failure: {error}");
    }
}
