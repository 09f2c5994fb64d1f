//! What a listing promised against what it delivered. [`ListingGuard`] is fed every page as it
//! arrives and every batch as it is deduplicated, and answers two questions:
//!
//! - **Is the listing looping?** A cursor (or a rotating scroll param) seen before, a run of
//!   pages without a record, or a run of rows made only of records already written (beyond what
//!   a scroll restart is expected to serve again) stop the run: a server that repeats itself
//!   must not make a dump run forever or fill the disk.
//! - **Is the output whole?** The API's `total_count`s (the lowest and the highest seen, since a
//!   workspace changes under a long listing) bound what a complete listing writes; [`Verdict`]
//!   says whether the rows written fall inside.
//!
//! Plain data, no I/O: the Coordinator drives it; unit tests drive it alone. Memory: a 64-bit
//! fingerprint a cursor followed (a million pages, 150 million contacts: about 16 MB).

use std::collections::HashSet;

/// Consecutive pages without a single record, while the listing still hands out a next page,
/// after which it is taken as looping.
pub(crate) const MAX_EMPTY_PAGES: u32 = 20;

/// Why a listing was stopped as endless.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoopError {
    #[error(
        "the API handed out a cursor it had handed out before ({cursor}): the listing would loop forever; it is broken on the server's side, try again later"
    )]
    RepeatedCursor { cursor: String },
    #[error(
        "the API served {pages} pages in a row without a record while announcing more (last cursor {cursor}): the listing would never end; try again later"
    )]
    EmptyPages { pages: u32, cursor: String },
    #[error(
        "the API served {rows} records in a row that were all written already (after {written} distinct ones): the listing is repeating itself; try again later"
    )]
    OnlyRepeats { rows: u64, written: u64 },
    #[error(
        "the API served {written} distinct records where it announced at most {announced}: the listing does not end where it said; try again later"
    )]
    BeyondAnnounced { written: u64, announced: u64 },
}

/// Whether what was written is what the API announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to compare with: the listing announced no count (a scroll).
    Unannounced,
    /// Inside the announced range.
    Complete,
    /// Fewer rows than the lowest count announced.
    Short { expected: u64, written: u64 },
    /// More rows than the highest count announced.
    Excess { expected: u64, written: u64 },
}

impl Verdict {
    pub fn is_whole(self) -> bool {
        matches!(self, Verdict::Unannounced | Verdict::Complete)
    }
}

#[derive(Debug)]
pub(crate) struct ListingGuard {
    cursors: HashSet<u64>,
    empty_pages: u32,
    /// Lowest and highest `total_count` announced.
    totals: Option<(u64, u64)>,
    /// Rows of only repeats in a row, and how many may come before that means a loop.
    repeat_run: u64,
    max_repeat_run: u64,
    /// Repeats expected from scroll restarts (each serves again what was served before it).
    replay_allowance: u64,
    written: u64,
    duplicates: u64,
    /// The count the plain list announced, which a search is compared with.
    listed: Option<u64>,
}

impl ListingGuard {
    /// `max_repeat_run`: rows of nothing but repeats that mean a loop (a few batches' worth).
    pub(crate) fn new(max_repeat_run: u64) -> ListingGuard {
        ListingGuard {
            cursors: HashSet::new(),
            empty_pages: 0,
            totals: None,
            repeat_run: 0,
            max_repeat_run: max_repeat_run.max(1),
            replay_allowance: 0,
            written: 0,
            duplicates: 0,
            listed: None,
        }
    }

    /// A page arrived, holding records or not, announcing `total` and
    /// handing out `next` (a cursor or scroll param that will be followed) when there is one.
    /// `next` is checked against every one followed before: a repeat is a loop. Scroll params
    /// that stay the same on every page are legitimate: pass `None` for them.
    pub(crate) fn page(&mut self, has_records: bool, total: Option<u64>, next: Option<&str>) -> Result<(), LoopError> {
        if let Some(total) = total {
            self.totals = Some(match self.totals {
                None => (total, total),
                Some((low, high)) => (low.min(total), high.max(total)),
            });
        }
        let Some(next) = next else { return Ok(()) };
        // A 64-bit fingerprint, from the set's own seeded SipHash: two distinct cursors of one
        // listing colliding (about n^2 / 2^65: 10^-10 for a million pages) would stop a run that
        // was fine, never lose a record.
        let fingerprint = std::hash::BuildHasher::hash_one(self.cursors.hasher(), next);
        if !self.cursors.insert(fingerprint) {
            return Err(LoopError::RepeatedCursor { cursor: shorten(next) });
        }
        if !has_records {
            self.empty_pages += 1;
            if self.empty_pages >= MAX_EMPTY_PAGES {
                return Err(LoopError::EmptyPages { pages: self.empty_pages, cursor: shorten(next) });
            }
        } else {
            self.empty_pages = 0;
        }
        Ok(())
    }

    /// A scroll was opened again from the start: it will serve again every record written so
    /// far, and those repeats are expected.
    pub(crate) fn restarted(&mut self) {
        self.replay_allowance = self.replay_allowance.saturating_add(self.written);
        self.cursors.clear();
        self.empty_pages = 0;
    }

    /// `rows` records written already will be served again (a window walked again whole).
    pub(crate) fn expect_repeats(&mut self, rows: u64) {
        self.replay_allowance = self.replay_allowance.saturating_add(rows);
    }

    /// The plain list (`GET /contacts`) announced `count`: a search does not find every contact
    /// it lists (merged ones, new ones not indexed yet), so the difference is reported.
    pub(crate) fn listed(&mut self, count: u64) {
        self.listed = Some(count);
    }

    pub(crate) fn listed_count(&self) -> Option<u64> {
        self.listed
    }

    /// A batch was deduplicated: `fresh` rows kept, `repeats` dropped. A batch with a fresh row
    /// ends a run of repeats.
    pub(crate) fn rows(&mut self, fresh: u64, repeats: u64) -> Result<(), LoopError> {
        self.written += fresh;
        self.duplicates += repeats;
        let excused = repeats.min(self.replay_allowance);
        self.replay_allowance -= excused;
        if fresh > 0 {
            self.repeat_run = 0;
            // Far past the highest count: not records created during the run, a listing that
            // does not end. Stop before it fills the disk.
            if let Some((_, high)) = self.totals
                && self.written > high.saturating_add((high / 10).max(1_000))
            {
                return Err(LoopError::BeyondAnnounced { written: self.written, announced: high });
            }
            return Ok(());
        }
        self.repeat_run += repeats - excused;
        if self.repeat_run >= self.max_repeat_run {
            return Err(LoopError::OnlyRepeats { rows: self.repeat_run, written: self.written });
        }
        Ok(())
    }

    /// The lowest and highest `total_count` the API announced.
    pub(crate) fn announced(&self) -> Option<(u64, u64)> {
        self.totals
    }

    /// `written` rows against the counts announced.
    pub(crate) fn verdict(&self, written: u64) -> Verdict {
        match self.totals {
            None => Verdict::Unannounced,
            Some((low, _)) if written < low => Verdict::Short { expected: low, written },
            Some((_, high)) if written > high => Verdict::Excess { expected: high, written },
            Some(_) => Verdict::Complete,
        }
    }
}

/// Cursors are long base64 strings; a message shows enough of one to recognise it.
fn shorten(cursor: &str) -> String {
    const KEEP: usize = 48;
    match cursor.char_indices().nth(KEEP) {
        Some((at, _)) => format!("{}...", &cursor[..at]),
        None => cursor.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_seen_before_is_a_loop() {
        let mut guard = ListingGuard::new(1_000);
        guard.page(true, Some(450), Some("A")).unwrap();
        guard.page(true, Some(450), Some("B")).unwrap();
        let error = guard.page(true, Some(450), Some("A")).unwrap_err();
        assert_eq!(error, LoopError::RepeatedCursor { cursor: "A".into() });
        assert!(error.to_string().contains("(A)"), "{error}");
    }

    #[test]
    fn empty_pages_are_followed_but_not_forever() {
        let mut guard = ListingGuard::new(1_000);
        for i in 0..MAX_EMPTY_PAGES - 1 {
            guard.page(false, Some(10), Some(&format!("c{i}"))).unwrap();
        }
        guard.page(true, Some(10), Some("full")).unwrap();
        for i in 0..MAX_EMPTY_PAGES - 1 {
            guard.page(false, Some(10), Some(&format!("d{i}"))).unwrap();
        }
        let error = guard.page(false, Some(10), Some("last")).unwrap_err();
        assert!(matches!(error, LoopError::EmptyPages { pages: MAX_EMPTY_PAGES, .. }), "{error}");
    }

    #[test]
    fn a_run_of_repeats_is_a_loop_unless_a_restart_explains_it() {
        let mut guard = ListingGuard::new(500);
        guard.rows(1_000, 0).unwrap();
        guard.rows(0, 400).unwrap();
        guard.rows(10, 50).unwrap();
        guard.rows(0, 499).unwrap();
        assert!(matches!(guard.rows(0, 1), Err(LoopError::OnlyRepeats { rows: 500, written: 1_010 })));

        let mut guard = ListingGuard::new(500);
        guard.rows(1_000, 0).unwrap();
        guard.restarted();
        // The restarted scroll serves the 1,000 again, then 499 more repeats are tolerated.
        guard.rows(0, 1_000).unwrap();
        guard.rows(0, 499).unwrap();
        assert!(guard.rows(0, 1).is_err());
        assert_eq!(guard.duplicates, 1_500);
    }

    #[test]
    fn fresh_records_far_past_the_count_stop_the_listing() {
        let mut guard = ListingGuard::new(10);
        guard.page(true, Some(20_000), None).unwrap();
        guard.rows(22_000, 0).unwrap();
        let error = guard.rows(1, 0).unwrap_err();
        assert_eq!(error, LoopError::BeyondAnnounced { written: 22_001, announced: 20_000 });
    }

    #[test]
    fn the_verdict_uses_the_range_of_counts_announced() {
        let mut guard = ListingGuard::new(10);
        assert_eq!(guard.verdict(5), Verdict::Unannounced);
        guard.page(true, Some(100), None).unwrap();
        guard.page(true, Some(103), None).unwrap();
        guard.page(true, Some(101), None).unwrap();
        assert_eq!(guard.announced(), Some((100, 103)));
        assert_eq!(guard.verdict(99), Verdict::Short { expected: 100, written: 99 });
        assert_eq!(guard.verdict(100), Verdict::Complete);
        assert_eq!(guard.verdict(103), Verdict::Complete);
        assert_eq!(guard.verdict(104), Verdict::Excess { expected: 103, written: 104 });
        assert!(!guard.verdict(0).is_whole());
    }

    #[test]
    fn long_cursors_are_shortened_in_messages() {
        let long = "x".repeat(300);
        let mut guard = ListingGuard::new(10);
        guard.page(true, None, Some(&long)).unwrap();
        let LoopError::RepeatedCursor { cursor } = guard.page(true, None, Some(&long)).unwrap_err() else { panic!() };
        assert_eq!(cursor.len(), 51);
    }
}
