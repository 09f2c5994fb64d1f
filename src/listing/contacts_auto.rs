//! `auto` for contacts: the cursor for a small workspace, the search for a big one. The first
//! page of the cursor list (`GET /contacts`) says how many contacts there are. Up to
//! [`SEARCH_FROM_PAGES`] pages, the cursor goes on from it: a cursor that short ends within a
//! couple of seconds even 100 ms from the API, and it lists every contact, merged ones and those
//! created in the last minutes included. Past it, the search pays: one cursor is one request per
//! round trip, the search keeps the rate limit busy (about 16 times faster against Intercom), for
//! a few requests more (its probes and closing counts, a partly empty last page a window), and
//! the page already read is dropped.
//!
//! Resuming needs no state of its own: a checkpoint's token is the cursor's or the search's, and
//! [`super::open`] goes on with whichever wrote it.

use std::time::Instant;

use super::search::SearchRules;
use super::{Call, CursorListing, Listing, ListingError, ListingGuard, SearchListing, Step};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

/// Pages of the cursor list past which `auto` takes the search.
pub(crate) const SEARCH_FROM_PAGES: u64 = 20;

/// Whether `auto` lists `total` contacts, `per_page` a page, through the search.
pub(crate) fn searches(total: u64, per_page: usize) -> bool {
    total.div_ceil(per_page.max(1) as u64) > SEARCH_FROM_PAGES
}

enum State {
    /// The list's first page asked for (`sent`); the guard and rules wait for the choice.
    Asking {
        sent: bool,
        guard: Option<ListingGuard>,
    },
    Chosen(Box<dyn Listing>),
}

pub(crate) struct ContactsAuto {
    per_page: usize,
    rules: SearchRules,
    state: State,
}

impl ContactsAuto {
    pub(crate) fn new(per_page: usize, rules: SearchRules, guard: ListingGuard) -> ContactsAuto {
        ContactsAuto { per_page, rules, state: State::Asking { sent: false, guard: Some(guard) } }
    }

    /// The listing for a list that announces `total` contacts, given the first page.
    fn choose(&mut self, total: u64, guard: ListingGuard) -> Box<dyn Listing> {
        if searches(total, self.per_page) {
            tracing::info!(total, "auto: a big workspace, listed through the search");
            Box::new(SearchListing::new(self.rules.clone(), guard))
        } else {
            Box::new(CursorListing::new(self.per_page, None, guard))
        }
    }
}

impl Listing for ContactsAuto {
    fn next(&mut self, room: bool, now: Instant) -> Step {
        match &mut self.state {
            State::Asking { sent, .. } if !*sent && room => {
                *sent = true;
                Step::Send { call: Call::Cursor { starting_after: None }, after: std::time::Duration::ZERO }
            }
            State::Asking { .. } => Step::Wait,
            State::Chosen(listing) => listing.next(room, now),
        }
    }

    fn page_arrived(
        &mut self,
        call: &Call,
        page: ListedPage,
        now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        if let State::Chosen(listing) = &mut self.state {
            return listing.page_arrived(call, page, now, ready);
        }
        let guard = self.take_guard().expect("the guard waits for the choice");
        let mut listing = self.choose(page.total_count.unwrap_or(0), guard);
        if listing.mode() == Mode::Cursor {
            // The cursor's first call is the page already here: it is handed the answer.
            let first = listing.next(true, now);
            debug_assert_eq!(first, Step::Send { call: call.clone(), after: std::time::Duration::ZERO });
            listing.page_arrived(call, page, now, ready)?;
        }
        self.state = State::Chosen(listing);
        Ok(())
    }

    fn request_failed(&mut self, call: &Call, error: ApiError, now: Instant) -> Result<(), ListingError> {
        match &mut self.state {
            State::Chosen(listing) => listing.request_failed(call, error, now),
            State::Asking { .. } => Err(ListingError::Failed(error)),
        }
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
        match &self.state {
            State::Chosen(listing) => listing.mode(),
            State::Asking { .. } => Mode::Auto,
        }
    }

    fn guard_mut(&mut self) -> &mut ListingGuard {
        match &mut self.state {
            State::Chosen(listing) => listing.guard_mut(),
            State::Asking { guard, .. } => guard.as_mut().expect("the guard waits for the choice"),
        }
    }
}

impl ContactsAuto {
    fn take_guard(&mut self) -> Option<ListingGuard> {
        match &mut self.state {
            State::Asking { guard, .. } => guard.take(),
            State::Chosen(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::testing::page;

    fn auto() -> ContactsAuto {
        let rules = SearchRules { per_page: 150, windows: 8, max_concurrency: 8, requests_per_sec: 100.0, changed_since: None };
        ContactsAuto::new(150, rules, ListingGuard::new(1_000))
    }

    fn first(listing: &mut ContactsAuto) -> Call {
        let Step::Send { call, .. } = listing.next(true, Instant::now()) else { panic!("asks for the first page") };
        assert_eq!(listing.next(true, Instant::now()), Step::Wait, "one page, then the choice");
        call
    }

    #[test]
    fn a_small_workspace_goes_on_with_the_cursor_from_its_first_page() {
        let mut listing = auto();
        let call = first(&mut listing);
        let mut ready = Vec::new();
        listing.page_arrived(&call, page(150, Some("p2"), Some(3_000)), Instant::now(), &mut ready).unwrap();
        assert_eq!((listing.mode(), ready.len()), (Mode::Cursor, 1), "the first page is written");
        assert_eq!(ready[0].resume_at.as_deref(), Some("p2"));
        let Step::Send { call, .. } = listing.next(true, Instant::now()) else { panic!() };
        assert_eq!(call, Call::Cursor { starting_after: Some("p2".into()) });
        assert_eq!(listing.guard_mut().announced(), Some((3_000, 3_000)));
    }

    #[test]
    fn a_big_workspace_is_searched_and_the_page_read_is_dropped() {
        let mut listing = auto();
        assert_eq!(listing.mode(), Mode::Auto);
        let call = first(&mut listing);
        let mut ready = Vec::new();
        listing.page_arrived(&call, page(150, Some("p2"), Some(3_001)), Instant::now(), &mut ready).unwrap();
        assert_eq!((listing.mode(), ready.len()), (Mode::Search, 0));
        let Step::Send { call, .. } = listing.next(true, Instant::now()) else { panic!() };
        assert_eq!(call, Call::Probe { newest: false, changed_since: None }, "the search starts with its probes");
    }

    #[test]
    fn a_failed_first_page_fails_the_listing() {
        let mut listing = auto();
        let call = first(&mut listing);
        let error = ApiError::Timeout { reason: "no answer".into() };
        assert!(matches!(listing.request_failed(&call, error, Instant::now()), Err(ListingError::Failed(_))));
    }
}
