//! A reference list (tags, segments, admins, teams, data attributes): one unpaged request answers
//! the whole list. A list that turns out to be paged (a `pages.next` or `scroll_param` in the
//! answer) is refused rather than cut short: the tool would need a listing for it.

use std::time::{Duration, Instant};

use super::{Call, Listing, ListingError, ListingGuard, Step};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

pub(crate) struct ReferenceListing {
    sent: bool,
    done: bool,
    guard: ListingGuard,
}

impl ReferenceListing {
    pub(crate) fn new(guard: ListingGuard) -> ReferenceListing {
        ReferenceListing { sent: false, done: false, guard }
    }
}

impl Listing for ReferenceListing {
    fn next(&mut self, _room: bool, _now: Instant) -> Step {
        if self.done {
            Step::Done
        } else if self.sent {
            Step::Wait
        } else {
            self.sent = true;
            Step::Send { call: Call::List, after: Duration::ZERO }
        }
    }

    fn page_arrived(
        &mut self,
        _call: &Call,
        page: ListedPage,
        _now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        if let Some(next) = &page.next {
            let reason = format!("a reference list answered a next page ({next}): it is paged now; report it");
            return Err(ListingError::Failed(ApiError::BadPage { reason }));
        }
        self.guard.page(!page.page.is_empty(), page.total_count, None)?;
        self.done = true;
        if !page.page.is_empty() {
            ready.push(page.page);
        }
        Ok(())
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
        100
    }

    fn mode(&self) -> Mode {
        Mode::List
    }

    fn guard_mut(&mut self) -> &mut ListingGuard {
        &mut self.guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::testing::page;

    #[test]
    fn one_request_is_the_whole_list() {
        let now = Instant::now();
        let mut listing = ReferenceListing::new(ListingGuard::new(1_000));
        assert_eq!(listing.next(true, now), Step::Send { call: Call::List, after: Duration::ZERO });
        assert_eq!(listing.next(true, now), Step::Wait);
        let mut ready = Vec::new();
        listing.page_arrived(&Call::List, page(8, None, None), now, &mut ready).unwrap();
        assert_eq!((ready.len(), listing.next(true, now)), (1, Step::Done));
    }

    #[test]
    fn a_paged_answer_is_refused_not_cut_short() {
        let now = Instant::now();
        let mut listing = ReferenceListing::new(ListingGuard::new(1_000));
        listing.next(true, now);
        let error = listing.page_arrived(&Call::List, page(8, Some("p2"), None), now, &mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("paged"), "{error}");
    }
}
