//! The v1 page list: numbered pages, several asked for at once and handed on in order. Page 1's
//! `total_count` says how many pages there are, and whether they reach every record at all (the
//! API pages through at most its cap). Past the cap, `auto` walks the scroll instead (its choice
//! is made here, on page 1); an explicit `--mode pages` fails. Pages do not expire, so the
//! listing pauses while the memory budget is full. It does not resume.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::scroll::{ScrollListing, ScrollRules};
use super::{Call, Listing, ListingError, ListingGuard, Step};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

/// How the page list is walked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageRules {
    /// Records a page.
    pub per_page: u32,
    /// Pages asked for at once.
    pub concurrency: usize,
    /// The most records the page list reaches.
    pub cap: u64,
}

enum Walk {
    /// Page 1 is to be asked for (`false`) or in flight (`true`).
    Probing { sent: bool },
    /// Pages `next_page..=last_page` are still to be asked for.
    Paging { next_page: u64, last_page: u64 },
    /// `auto` chose the scroll: everything goes to it.
    Scroll(Box<ScrollListing>),
}

pub(crate) struct PageListing {
    rules: PageRules,
    /// Set for `auto`: the scroll to walk when the page list cannot reach every record.
    fallback: Option<ScrollRules>,
    walk: Walk,
    in_flight: usize,
    /// Pages that arrived ahead of their turn (with those in flight, at most `concurrency`).
    arrived: BTreeMap<u64, FetchedPage>,
    next_to_deliver: u64,
    guard: ListingGuard,
}

impl PageListing {
    pub(crate) fn new(rules: PageRules, fallback: Option<ScrollRules>, guard: ListingGuard) -> PageListing {
        PageListing {
            rules,
            fallback,
            walk: Walk::Probing { sent: false },
            in_flight: 0,
            arrived: BTreeMap::new(),
            next_to_deliver: 1,
            guard,
        }
    }

    /// The last page number the page list reaches at all.
    fn reachable_pages(&self) -> u64 {
        self.rules.cap.div_ceil(u64::from(self.rules.per_page.max(1)))
    }

    /// Page 1 arrived: settles how many pages there are, or hands the listing to the scroll.
    fn probed(&mut self, page: &ListedPage) -> Result<bool, ListingError> {
        let total = page.total_count.unwrap_or(0);
        if total > self.rules.cap {
            let Some(rules) = self.fallback else {
                return Err(ListingError::PastPageCap { total, cap: self.rules.cap });
            };
            tracing::info!(total, cap = self.rules.cap, "the page list cannot reach every record; scrolling instead");
            let guard = std::mem::replace(&mut self.guard, ListingGuard::new(1));
            self.walk = Walk::Scroll(Box::new(ScrollListing::new(rules, guard)));
            return Ok(false);
        }
        let last_page = page.total_pages.unwrap_or_else(|| total.div_ceil(u64::from(self.rules.per_page))).max(1);
        self.walk = Walk::Paging { next_page: 2, last_page };
        Ok(true)
    }
}

impl Listing for PageListing {
    fn next(&mut self, room: bool, now: Instant) -> Step {
        match &mut self.walk {
            Walk::Scroll(scroll) => scroll.next(room, now),
            Walk::Probing { sent: false } => {
                self.walk = Walk::Probing { sent: true };
                self.in_flight += 1;
                Step::Send { call: Call::Page { number: 1 }, after: Duration::ZERO }
            }
            Walk::Probing { sent: true } => Step::Wait,
            Walk::Paging { next_page, last_page } => {
                if *next_page > *last_page {
                    return if self.in_flight == 0 && self.arrived.is_empty() { Step::Done } else { Step::Wait };
                }
                // A window over the pages not yet handed on, in flight or held for their turn:
                // a straggler holds the window, so held pages never pile up past it.
                let window = (*next_page - self.next_to_deliver) as usize;
                if window >= self.rules.concurrency || !room {
                    return Step::Wait;
                }
                let number = *next_page;
                *next_page += 1;
                self.in_flight += 1;
                Step::Send { call: Call::Page { number }, after: Duration::ZERO }
            }
        }
    }

    fn page_arrived(
        &mut self,
        call: &Call,
        page: ListedPage,
        now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        if let Walk::Scroll(scroll) = &mut self.walk {
            return scroll.page_arrived(call, page, now, ready);
        }
        let &Call::Page { number } = call else {
            unreachable!("a page list asks for pages only");
        };
        self.in_flight -= 1;
        if matches!(self.walk, Walk::Probing { .. }) && !self.probed(&page)? {
            return Ok(());
        }
        self.guard.page(!page.page.is_empty(), page.total_count, None)?;
        // The last page the count announced still says there is a next one: follow it, page by
        // page, as far as the page list reaches at all; the count check at the end says whether
        // the count or the pages were wrong.
        let reachable = self.reachable_pages();
        if let Walk::Paging { last_page, .. } = &mut self.walk
            && number == *last_page
            && page.next.is_some()
            && *last_page < reachable
        {
            tracing::warn!(page = number, "the page list goes on past the pages its count announced; following it");
            *last_page += 1;
        }
        self.arrived.insert(number, page.page);
        while let Some(page) = self.arrived.remove(&self.next_to_deliver) {
            self.next_to_deliver += 1;
            if !page.is_empty() {
                ready.push(page);
            }
        }
        Ok(())
    }

    fn request_failed(&mut self, call: &Call, error: ApiError, now: Instant) -> Result<(), ListingError> {
        match &mut self.walk {
            Walk::Scroll(scroll) => scroll.request_failed(call, error, now),
            _ => Err(ListingError::Failed(error)),
        }
    }

    fn can_pause(&self) -> bool {
        !matches!(self.walk, Walk::Scroll(_))
    }

    fn resumable(&self) -> bool {
        false
    }

    fn records_per_page(&self) -> usize {
        match &self.walk {
            Walk::Scroll(scroll) => scroll.records_per_page(),
            _ => self.rules.per_page as usize,
        }
    }

    fn mode(&self) -> Mode {
        match (&self.walk, self.fallback) {
            (Walk::Scroll(_), _) => Mode::Scroll,
            (Walk::Probing { .. }, Some(_)) => Mode::Auto,
            _ => Mode::Pages,
        }
    }

    fn restarts(&self) -> u32 {
        match &self.walk {
            Walk::Scroll(scroll) => scroll.restarts(),
            _ => 0,
        }
    }

    fn guard_mut(&mut self) -> &mut ListingGuard {
        match &mut self.walk {
            Walk::Scroll(scroll) => scroll.guard_mut(),
            _ => &mut self.guard,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listing::testing::page;

    const RULES: PageRules = PageRules { per_page: 10, concurrency: 3, cap: 100 };
    const SCROLL: ScrollRules =
        ScrollRules { max_restarts: 1, lock_wait: Duration::from_secs(1), lock_poll: Duration::from_millis(100) };

    fn sends(listing: &mut PageListing, room: bool) -> Vec<u64> {
        let mut numbers = Vec::new();
        while let Step::Send { call: Call::Page { number }, .. } = listing.next(room, Instant::now()) {
            numbers.push(number);
        }
        numbers
    }

    /// Page `number` of a page list of 10 a page holding `total` records: the last names no next.
    fn numbered(number: u64, total: u64) -> ListedPage {
        let next = (number * 10 < total).then_some("next");
        let mut page = page(10, next, Some(total));
        page.page.origin = number.to_string().into();
        page
    }

    fn arrive(listing: &mut PageListing, number: u64, total: u64) -> Vec<String> {
        let mut ready = Vec::new();
        listing.page_arrived(&Call::Page { number }, numbered(number, total), Instant::now(), &mut ready).unwrap();
        ready.iter().map(|p| p.origin.to_string()).collect()
    }

    #[test]
    fn probes_then_asks_several_pages_at_once_and_hands_them_on_in_order() {
        let mut listing = PageListing::new(RULES, None, ListingGuard::new(1_000));
        assert_eq!(sends(&mut listing, true), vec![1], "page 1 alone first");
        assert_eq!(arrive(&mut listing, 1, 45), vec!["1"]);
        assert_eq!(sends(&mut listing, true), vec![2, 3, 4], "three at once");
        assert!(arrive(&mut listing, 3, 45).is_empty(), "page 3 waits for page 2");
        assert_eq!(sends(&mut listing, true), Vec::<u64>::new(), "page 3 held counts against the window");
        assert_eq!(arrive(&mut listing, 2, 45), vec!["2", "3"]);
        assert_eq!(sends(&mut listing, false), Vec::<u64>::new(), "no room: it pauses");
        assert_eq!(sends(&mut listing, true), vec![5], "the last page");
        arrive(&mut listing, 4, 45);
        assert_eq!(listing.next(true, Instant::now()), Step::Wait, "page 5 is in flight");
        arrive(&mut listing, 5, 45);
        assert_eq!(listing.next(true, Instant::now()), Step::Done);
        assert_eq!(listing.mode(), Mode::Pages);
    }

    #[test]
    fn a_last_page_that_goes_on_is_followed_up_to_the_cap() {
        let rules = PageRules { concurrency: 1, ..RULES };
        let mut listing = PageListing::new(rules, None, ListingGuard::new(1_000));
        sends(&mut listing, true);
        // The count says one page; every page says there is a next.
        let going_on = |number: u64| {
            let mut page = numbered(number, 200);
            page.total_count = Some(10);
            page
        };
        listing.page_arrived(&Call::Page { number: 1 }, going_on(1), Instant::now(), &mut Vec::new()).unwrap();
        for number in 2..=10 {
            assert_eq!(sends(&mut listing, true), vec![number], "the pages say there is more");
            listing.page_arrived(&Call::Page { number }, going_on(number), Instant::now(), &mut Vec::new()).unwrap();
        }
        assert_eq!(listing.next(true, Instant::now()), Step::Done, "page 10 is the last the cap reaches");
    }

    #[test]
    fn past_the_cap_auto_scrolls_and_pages_fails() {
        let mut pages = PageListing::new(RULES, None, ListingGuard::new(1_000));
        sends(&mut pages, true);
        let error = pages.page_arrived(&Call::Page { number: 1 }, numbered(1, 101), Instant::now(), &mut Vec::new());
        assert!(matches!(error, Err(ListingError::PastPageCap { total: 101, cap: 100 })));

        let mut auto = PageListing::new(RULES, Some(SCROLL), ListingGuard::new(1_000));
        assert_eq!(auto.mode(), Mode::Auto);
        sends(&mut auto, true);
        assert!(arrive(&mut auto, 1, 101).is_empty(), "page 1 is not written: the scroll serves it again");
        assert_eq!(auto.mode(), Mode::Scroll);
        assert!(!auto.can_pause());
        assert_eq!(
            auto.next(true, Instant::now()),
            Step::Send { call: Call::Scroll { param: None, params_rotate: false }, after: Duration::ZERO }
        );
    }
}
