//! The search listing (`POST /contacts/search`): the workspace cut into parts, each walked by a
//! cursor of its own, as many at once as the rate limit keeps busy.
//!
//! **Plan.** Two probes (a page of one record, oldest and newest first) give the time line and
//! the count. The time line is cut into windows of equal time, as many as make windows of
//! `total / windows` records (never fewer than [`MIN_WINDOW_PAGES`] pages). Each window's first
//! page is its count probe, and costs nothing extra: a window no bigger than half again its
//! target is simply walked on from there. A bigger one is split (its first page dropped, its
//! children walk it again) into up to [`MAX_FANOUT`] parts of the target size: cut in time while
//! it spans more than a day, else on the last hex digit of the id (`id $ "3"`, then `"a3"`...).
//! Why ids within a day: where the API matches dates by the day, in a time zone unknown to the
//! client, no cut inside a day can be relied on to split it, and an import day can hold half a
//! workspace; the id's last digits split it evenly under either date semantics. A split on ids is
//! checked once its children's counts are in: if they add up to less than the parent's (ids that
//! do not end in a hex digit), the parent is walked whole as well, its repeats expected.
//!
//! **Exact cover.** Each window is `(created_at = t OR created_at > t) AND created_at < t2`
//! ([`Window::query`]), sorted by `created_at`, which never changes: windows that share their
//! cuts cover the time line exactly whether dates match by the second or by the day, in
//! whatever time zone, and the 16 suffixes of a suffix cover its ids. A record seen twice is
//! written once (the Coordinator deduplicates by id).
//!
//! **Pace.** Requests in flight follow Little's law: the rate the client allows itself times the
//! server's round trip (an average of what search pages report, the limiter's wait left out),
//! with a quarter more for jitter, up to `max_concurrency`. The rate limiter, not a fixed
//! number, is what holds the pace: no 429 in steady state. Parts never started go first (their
//! first page may split them), then the biggest with a page to ask for.
//!
//! **Whole.** The probes' count is what the output is checked against; when every part is done
//! the listing asks the count again (the workspace may have changed) and the plain list's count
//! (`GET /contacts`), which a search does not always reach (merged contacts, new contacts not
//! indexed yet): the difference is reported, and is an error under `--strict`.
//!
//! **Resume.** Each page handed on carries the plan as it stands: every part not done, with the
//! cursor of the page it asks for next, and the splits whose check is pending.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Call, Listing, ListingError, ListingGuard, Step, Window};
use crate::api::{ApiError, FetchedPage, ListedPage};
use crate::config::Mode;

/// The digits of a hex id (Intercom's ids are 24 of them), a suffix split's 16 parts.
const HEX: &[u8; 16] = b"0123456789abcdef";
/// A window spanning no more than this may lie inside one day (25 hours: a time zone's day
/// with daylight saving time): it splits on ids, not on time.
const DAY_OR_LESS: i128 = 25 * 3_600;
/// The longest id suffix a split goes to: 65,536 parts of one day.
const MAX_SUFFIX: usize = 4;
/// Parts a split makes at most.
const MAX_FANOUT: u64 = 16;
/// Pages a window aims at, at least: a window's last page is part empty, and a first page that
/// splits is dropped; smaller windows would waste more requests than balance gains.
const MIN_WINDOW_PAGES: u64 = 20;
/// Requests in flight before any round trip has been measured: the two probes.
const START_CONCURRENCY: usize = 2;
/// What marks a resume token as a search plan.
const TOKEN_PREFIX: &str = "search1:";

/// How a search is cut and paced.
#[derive(Debug, Clone)]
pub(crate) struct SearchRules {
    pub per_page: usize,
    /// Windows the time line is first cut into, at most; a window aims at `total / windows`.
    pub windows: usize,
    /// Requests in flight, at most.
    pub max_concurrency: usize,
    /// Requests a second the client allows itself (the rate limiter's pace).
    pub requests_per_sec: f64,
    /// An incremental run's: every query narrowed to the records updated after this time, and
    /// no comparison with the plain list's count (which counts every record).
    pub changed_since: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum PartState {
    /// Its first page not asked for yet.
    Fresh,
    /// Its next page is at this cursor.
    Ready(String),
    /// A page in flight, asked for at this cursor (`None`: its first).
    #[serde(skip)]
    InFlight(Option<String>),
    Done,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Part {
    from: Option<i64>,
    to: Option<i64>,
    suffix: Option<String>,
    state: PartState,
    /// What its first page announced.
    count: Option<u64>,
    /// Walked whole, never split: the fallback of a split on ids that did not add up.
    #[serde(default)]
    whole: bool,
    /// The split on ids it is a part of, checked when every part's count is in.
    split: Option<u32>,
}

impl Part {
    fn new(from: Option<i64>, to: Option<i64>, suffix: Option<String>, split: Option<u32>) -> Part {
        Part { from, to, suffix, state: PartState::Fresh, count: None, whole: false, split }
    }

    /// As a resumed run finds it: a page in flight is asked for again.
    fn saved(&self) -> Part {
        let state = match &self.state {
            PartState::InFlight(None) => PartState::Fresh,
            PartState::InFlight(Some(cursor)) => PartState::Ready(cursor.clone()),
            state => state.clone(),
        };
        Part { state, suffix: self.suffix.clone(), ..*self }
    }
}

/// A split on ids: its parts' counts must add up to the parent's.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Split {
    from: Option<i64>,
    to: Option<i64>,
    suffix: Option<String>,
    expected: u64,
    parts: u32,
    reported: u32,
    sum: u64,
}

/// The parts and what they were cut from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Plan {
    /// The probes' count and time line.
    total: u64,
    oldest: i64,
    newest: i64,
    /// Records a part aims at.
    target: u64,
    parts: Vec<Part>,
    splits: Vec<Split>,
    /// [`SearchRules::changed_since`], kept with the plan so that a resume asks the same.
    #[serde(default)]
    changed_since: Option<i64>,
}

impl Plan {
    /// Cuts `[oldest, newest]` into windows of equal time aiming at `target` records each, the
    /// first open below and the last open above, so that nothing falls outside whatever the
    /// clock did meanwhile. In 128 bits: a server's times can be anywhere in `i64`, and so can
    /// their difference.
    fn new(rules: &SearchRules, oldest: i64, newest: i64, total: u64) -> Plan {
        let (oldest, newest) = (oldest.min(newest), oldest.max(newest));
        let target = total.div_ceil(rules.windows.max(1) as u64).max(MIN_WINDOW_PAGES * rules.per_page as u64);
        let count = total.div_ceil(target).clamp(1, rules.windows.max(1) as u64);
        let span = (i128::from(newest) - i128::from(oldest) + 1).max(1);
        let count = i128::from(count).min(span);
        // Every cut lies in [oldest, newest], so it fits an i64. One cut at least: a window
        // open at both ends would have no query that means every time there is.
        let cuts = (1..count).map(|k| Some((i128::from(oldest) + span * k / count) as i64));
        let cuts: Vec<Option<i64>> = if count > 1 { cuts.collect() } else { vec![Some(oldest)] };
        let edges: Vec<Option<i64>> = std::iter::once(None).chain(cuts).chain(std::iter::once(None)).collect();
        let parts = edges.windows(2).map(|pair| Part::new(pair[0], pair[1], None, None)).collect();
        Plan { total, oldest, newest, target, parts, splits: Vec::new(), changed_since: rules.changed_since }
    }

    fn window(&self, index: usize) -> Window {
        let part = &self.parts[index];
        let (from, to, id_suffix, changed_since) = (part.from, part.to, part.suffix.clone(), self.changed_since);
        Window { index: index as u32, from, to, id_suffix, changed_since }
    }

    fn in_flight(&self) -> usize {
        self.parts.iter().filter(|p| matches!(p.state, PartState::InFlight(_))).count()
    }

    fn all_done(&self) -> bool {
        self.parts.iter().all(|p| p.state == PartState::Done)
    }

    /// The part to ask a page of next: one never started, else the biggest with a page to ask.
    fn pick(&self) -> Option<usize> {
        self.parts.iter().position(|p| p.state == PartState::Fresh).or_else(|| {
            let ready = self.parts.iter().enumerate().filter(|(_, p)| matches!(p.state, PartState::Ready(_)));
            ready.max_by_key(|(index, p)| (p.count.unwrap_or(0), std::cmp::Reverse(*index))).map(|(index, _)| index)
        })
    }

    /// The parts `part` splits into, announcing `count`; `None` when it is walked as it is.
    fn split(&self, part: &Part, count: u64) -> Option<Vec<Part>> {
        if part.whole || count <= self.target + self.target / 2 {
            return None;
        }
        let fanout = count.div_ceil(self.target).clamp(2, MAX_FANOUT) as i128;
        let low = i128::from(part.from.unwrap_or(self.oldest));
        let high = i128::from(part.to.unwrap_or(self.newest.saturating_add(1)));
        if high - low > DAY_OR_LESS {
            let mut edges = vec![part.from];
            // Strictly inside (low, high), so each fits an i64 and no window is empty of time.
            edges.extend((1..fanout).map(|k| Some((low + (high - low) * k / fanout) as i64)));
            edges.dedup();
            edges.push(part.to);
            return Some(edges.windows(2).map(|pair| Part::new(pair[0], pair[1], part.suffix.clone(), None)).collect());
        }
        let suffix = part.suffix.as_deref().unwrap_or("");
        if suffix.len() >= MAX_SUFFIX {
            return None;
        }
        let split = Some(self.splits.len() as u32);
        Some(HEX.iter().map(|&digit| Part::new(part.from, part.to, Some(format!("{}{suffix}", digit as char)), split)).collect())
    }

    /// A resume token: every part not done, and the splits.
    fn token(&self) -> String {
        let saved = Plan {
            parts: self.parts.iter().filter(|p| p.state != PartState::Done).map(Part::saved).collect(),
            splits: self.splits.clone(),
            ..*self
        };
        format!("{TOKEN_PREFIX}{}", serde_json::to_string(&saved).expect("a plan serialises"))
    }

    fn from_token(token: &str) -> Result<Plan, String> {
        let json = token.strip_prefix(TOKEN_PREFIX).ok_or("it is not a search's progress (another --mode ran there)")?;
        let plan: Plan = serde_json::from_str(json).map_err(|e| format!("the search's progress is unreadable: {e}"))?;
        let splits = plan.splits.len() as u32;
        if plan.parts.iter().any(|p| p.split.is_some_and(|s| s >= splits) || matches!(p.state, PartState::InFlight(_))) {
            return Err("the search's progress names a split it does not hold".into());
        }
        Ok(plan)
    }
}

/// Whether a checkpoint's token is a search's.
pub(crate) fn is_token(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX)
}

enum Phase {
    /// The oldest and newest contact asked for (`sent`), and what came back.
    Probing {
        sent: u8,
        oldest: Option<Option<i64>>,
        newest: Option<Option<i64>>,
        total: u64,
    },
    Walking(Plan),
    /// Every part walked: the count of the search and of the plain list asked for again.
    Closing {
        sent: u8,
        answered: u8,
    },
    Done,
}

pub(crate) struct SearchListing {
    rules: SearchRules,
    phase: Phase,
    guard: ListingGuard,
    /// The server's round trip, averaged over search pages.
    round_trip: Option<Duration>,
    /// A resumed run: a cursor refused is the resume's failure.
    resumed: bool,
}

impl SearchListing {
    pub(crate) fn new(rules: SearchRules, guard: ListingGuard) -> SearchListing {
        let phase = Phase::Probing { sent: 0, oldest: None, newest: None, total: 0 };
        SearchListing { rules, phase, guard, round_trip: None, resumed: false }
    }

    /// Goes on from a resume token (a page's `resume_at`).
    pub(crate) fn resume(rules: SearchRules, token: &str, mut guard: ListingGuard) -> Result<SearchListing, ListingError> {
        let plan = Plan::from_token(token).map_err(ListingError::BadToken)?;
        guard.page(true, Some(plan.total), None)?;
        let phase = if plan.all_done() { Phase::Closing { sent: 0, answered: 0 } } else { Phase::Walking(plan) };
        Ok(SearchListing { rules, phase, guard, round_trip: None, resumed: true })
    }

    /// Requests to keep in flight: the rate times the round trip, a quarter more for jitter.
    fn concurrency(&self) -> usize {
        let max = self.rules.max_concurrency.max(1);
        match self.round_trip {
            None => START_CONCURRENCY.min(max),
            Some(round_trip) => {
                let wanted = self.rules.requests_per_sec * round_trip.as_secs_f64() * 1.25;
                (wanted.ceil() as usize + 1).clamp(1, max)
            }
        }
    }

    fn note_round_trip(&mut self, round_trip: Option<Duration>) {
        let Some(sample) = round_trip else { return };
        self.round_trip = Some(match self.round_trip {
            None => sample,
            // A moving average over about ten pages: quick to follow, slow to jump at one outlier.
            Some(average) => average.mul_f64(0.9) + sample.mul_f64(0.1),
        });
    }

    fn walk(&mut self, room: bool) -> Step {
        let concurrency = self.concurrency();
        let Phase::Walking(plan) = &mut self.phase else { return Step::Wait };
        if plan.all_done() {
            self.phase = Phase::Closing { sent: 0, answered: 0 };
            return self.next(room, Instant::now());
        }
        if !room || plan.in_flight() >= concurrency {
            return Step::Wait;
        }
        let Some(index) = plan.pick() else { return Step::Wait };
        let starting_after = match &plan.parts[index].state {
            PartState::Ready(cursor) => Some(cursor.clone()),
            _ => None,
        };
        plan.parts[index].state = PartState::InFlight(starting_after.clone());
        Step::Send { call: Call::Search { window: plan.window(index), starting_after }, after: Duration::ZERO }
    }

    /// A part's page arrived.
    fn part_arrived(
        &mut self,
        window: &Window,
        first: bool,
        page: ListedPage,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        let Phase::Walking(plan) = &mut self.phase else { return Err(stray()) };
        let index = window.index as usize;
        if !plan.parts.get(index).is_some_and(|p| matches!(p.state, PartState::InFlight(_))) {
            return Err(stray());
        }
        if first {
            plan.parts[index].count = page.total_count;
            if let Some(split) = plan.parts[index].split {
                report_split(plan, split as usize, page.total_count.unwrap_or(0), &mut self.guard);
            }
            let children = page.total_count.and_then(|count| plan.split(&plan.parts[index], count));
            if let Some(children) = children {
                if children.first().is_some_and(|c| c.split.is_some()) {
                    let part = &plan.parts[index];
                    let expected = part.count.unwrap_or(0);
                    let (from, to, suffix) = (part.from, part.to, part.suffix.clone());
                    plan.splits.push(Split { from, to, suffix, expected, parts: children.len() as u32, reported: 0, sum: 0 });
                }
                tracing::debug!(window = index, count = ?page.total_count, parts = children.len(), "splitting a search window");
                // Its cursor is not followed: a part may hand out the same one (where dates
                // match by the day, a part can be the same query as the window it was cut from).
                self.guard.page(!page.page.is_empty(), None, None)?;
                plan.parts[index].state = PartState::Done;
                plan.parts.extend(children);
                return Ok(());
            }
        }
        self.guard.page(!page.page.is_empty(), None, page.next.as_deref())?;
        plan.parts[index].state = match page.next {
            Some(next) => PartState::Ready(next),
            None => PartState::Done,
        };
        if !page.page.is_empty() {
            let mut page = page.page;
            page.resume_at = Some(plan.token());
            ready.push(page);
        }
        Ok(())
    }
}

/// One part of split `split` announced `count`: once every part has, a split that does not add
/// up is walked whole too.
fn report_split(plan: &mut Plan, split: usize, count: u64, guard: &mut ListingGuard) {
    let Some(entry) = plan.splits.get_mut(split) else { return };
    entry.reported += 1;
    entry.sum += count;
    if entry.reported == entry.parts && entry.sum < entry.expected {
        tracing::warn!(
            expected = entry.expected,
            found = entry.sum,
            "a search split on id suffixes found fewer contacts than its window holds (ids that are not hex?): walking the window whole"
        );
        let mut whole = Part::new(entry.from, entry.to, entry.suffix.clone(), None);
        whole.whole = true;
        // Everything the split's parts deliver is served again by the whole window.
        guard.expect_repeats(entry.sum);
        plan.parts.push(whole);
    }
}

fn stray() -> ListingError {
    ListingError::Failed(ApiError::BadPage { reason: "a search answer came for no call in flight".into() })
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
        let changed_since = self.rules.changed_since;
        match &mut self.phase {
            Phase::Probing { sent: sent @ 0, .. } => {
                *sent = 1;
                send(Call::Probe { newest: false, changed_since })
            }
            Phase::Probing { sent: sent @ 1, .. } => {
                *sent = 2;
                send(Call::Probe { newest: true, changed_since })
            }
            Phase::Probing { .. } => Step::Wait,
            Phase::Walking(_) => self.walk(room),
            Phase::Closing { sent: sent @ 0, .. } => {
                *sent = 1;
                send(Call::Probe { newest: false, changed_since })
            }
            // The plain list counts every record, not the changed ones: nothing to compare.
            Phase::Closing { sent: sent @ 1, answered } if changed_since.is_some() => {
                *sent = 2;
                *answered += 1;
                if *answered >= 2 {
                    self.phase = Phase::Done;
                    return Step::Done;
                }
                Step::Wait
            }
            Phase::Closing { sent: sent @ 1, .. } => {
                *sent = 2;
                send(Call::Count)
            }
            Phase::Closing { answered: 2.., .. } => {
                self.phase = Phase::Done;
                Step::Done
            }
            Phase::Closing { .. } => Step::Wait,
            Phase::Done => Step::Done,
        }
    }

    fn page_arrived(
        &mut self,
        call: &Call,
        page: ListedPage,
        _now: Instant,
        ready: &mut Vec<FetchedPage>,
    ) -> Result<(), ListingError> {
        self.note_round_trip(page.round_trip);
        match (call, &mut self.phase) {
            (Call::Probe { newest, .. }, Phase::Probing { oldest, newest: latest, total, .. }) => {
                // The count of the whole search is what the output is checked against.
                self.guard.page(true, page.total_count, None)?;
                *total = (*total).max(page.total_count.unwrap_or(0));
                let at = first_created_at(&page.page)?;
                if *newest {
                    *latest = Some(at)
                } else {
                    *oldest = Some(at)
                }
                if let (Some(first), Some(last)) = (*oldest, *latest) {
                    self.phase = match (first, last) {
                        (Some(first), Some(last)) => Phase::Walking(Plan::new(&self.rules, first, last, *total)),
                        _ => Phase::Closing { sent: 0, answered: 0 },
                    };
                }
                Ok(())
            }
            (Call::Search { window, starting_after }, _) => self.part_arrived(window, starting_after.is_none(), page, ready),
            (Call::Probe { .. }, Phase::Closing { answered, .. }) => {
                self.guard.page(true, page.total_count, None)?;
                *answered += 1;
                Ok(())
            }
            (Call::Count, Phase::Closing { answered, .. }) => {
                if let Some(count) = page.total_count {
                    self.guard.listed(count);
                }
                *answered += 1;
                Ok(())
            }
            _ => Err(stray()),
        }
    }

    fn request_failed(&mut self, call: &Call, error: ApiError, _now: Instant) -> Result<(), ListingError> {
        if let (Call::Count, Phase::Closing { answered, .. }) = (call, &mut self.phase) {
            // A cross-check, not the search's own proof: the run goes on without it (and
            // `--strict`, which needs it, refuses to publish).
            tracing::warn!(%error, "cannot read the plain list's count to compare the search with");
            *answered += 1;
            return Ok(());
        }
        let cursor_refused = matches!(call, Call::Search { starting_after: Some(_), .. }) && matches!(error.status(), Some(400));
        if self.resumed && cursor_refused {
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
        self.rules.per_page
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

    fn rules(windows: usize, max_concurrency: usize) -> SearchRules {
        SearchRules { per_page: 150, windows, max_concurrency, requests_per_sec: 100.0, changed_since: None }
    }

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

    /// A window's page: `records` records, `total` announced, `next` when there is more.
    fn part_page(records: usize, next: Option<&str>, total: u64) -> ListedPage {
        let mut answer = page(records, next, Some(total));
        answer.round_trip = Some(Duration::from_millis(100));
        answer
    }

    fn sends(listing: &mut SearchListing, room: bool) -> Vec<Call> {
        let mut calls = Vec::new();
        while let Step::Send { call, .. } = listing.next(room, Instant::now()) {
            calls.push(call);
        }
        calls
    }

    fn arrive(listing: &mut SearchListing, call: &Call, answer: ListedPage) -> Vec<FetchedPage> {
        let mut ready = Vec::new();
        listing.page_arrived(call, answer, Instant::now(), &mut ready).unwrap();
        ready
    }

    fn plan(listing: &SearchListing) -> &Plan {
        let Phase::Walking(plan) = &listing.phase else { panic!("walking") };
        plan
    }

    /// Probes a listing of `total` records created from `oldest` to `newest`.
    fn probed(listing: &mut SearchListing, oldest: i64, newest: i64, total: u64) {
        let probes = sends(listing, true);
        assert_eq!(
            probes,
            [Call::Probe { newest: false, changed_since: None }, Call::Probe { newest: true, changed_since: None }]
        );
        arrive(listing, &probes[0], probe(Some(oldest), total));
        assert!(sends(listing, true).is_empty(), "waits for the other probe");
        arrive(listing, &probes[1], probe(Some(newest), total));
    }

    /// Answers every call the listing makes with `answer(window)` until it is done, and returns
    /// the windows whose pages were handed on.
    fn walk_all(listing: &mut SearchListing, answer: impl Fn(&Window) -> ListedPage) -> Vec<Window> {
        let mut walked = Vec::new();
        for _ in 0..10_000 {
            let calls = sends(listing, true);
            if calls.is_empty() {
                assert_eq!(listing.next(true, Instant::now()), Step::Done);
                return walked;
            }
            for call in calls {
                let answer = match &call {
                    Call::Search { window, .. } => answer(window),
                    Call::Probe { .. } => probe(None, 0),
                    Call::Count => page(0, None, Some(0)),
                    other => panic!("{other:?}"),
                };
                if let (Call::Search { window, .. }, false) = (&call, arrive(listing, &call, answer).is_empty()) {
                    walked.push(window.clone());
                }
            }
        }
        panic!("never done")
    }

    #[test]
    fn probes_then_walks_windows_of_the_target_size_that_cover_the_time_line() {
        let mut listing = SearchListing::new(rules(4, 64), ListingGuard::new(1_000));
        probed(&mut listing, 1_000, 1_999, 12_000);
        let bounds: Vec<(Option<i64>, Option<i64>)> = plan(&listing).parts.iter().map(|p| (p.from, p.to)).collect();
        assert_eq!(bounds, [(None, Some(1_250)), (Some(1_250), Some(1_500)), (Some(1_500), Some(1_750)), (Some(1_750), None)]);
        assert_eq!(plan(&listing).target, 3_000);

        let first = sends(&mut listing, true);
        assert_eq!(first.len(), 2, "two at once before a round trip is known: {first:?}");
        assert!(sends(&mut listing, false).is_empty(), "no room, no request");
        assert_eq!(arrive(&mut listing, &first[0], part_page(150, Some("w0-p2"), 3_000)).len(), 1);
        // 100 requests a second of 100 ms: 10 in flight, a quarter more, one more.
        assert_eq!(listing.concurrency(), 14);
        let next = sends(&mut listing, true);
        assert_eq!(next.len(), 3, "the windows not started, then window 0 again: {next:?}");
        let Call::Search { window, starting_after: Some(cursor) } = &next[2] else { panic!("{next:?}") };
        assert_eq!((window.index, cursor.as_str()), (0, "w0-p2"));
        let ready = arrive(&mut listing, &next[2], part_page(150, None, 3_000));
        let token = ready[0].resume_at.clone().unwrap();
        assert!(token.starts_with(TOKEN_PREFIX));
        assert_eq!(listing.guard_mut().announced(), Some((12_000, 12_000)), "the probes' count is the whole search's");
    }

    #[test]
    fn a_big_window_splits_in_time_then_a_big_day_on_id_suffixes() {
        let mut listing = SearchListing::new(rules(4, 64), ListingGuard::new(1_000_000));
        let day = 86_400;
        probed(&mut listing, 0, 40 * day, 24_000);
        // Window 1 holds 12,000: four times its target. Split in time, then the day that holds
        // them on ids.
        let import = (15 * day + 100, 15 * day + 3_700);
        let count = |w: &Window| -> u64 {
            let (from, to) = (w.from.unwrap_or(i64::MIN), w.to.unwrap_or(i64::MAX));
            let in_import = from <= import.0 && import.1 <= to;
            let base = if in_import { 12_000 } else { 100 };
            match &w.id_suffix {
                None => base,
                Some(suffix) => base >> (4 * suffix.len()),
            }
        };
        let walked = walk_all(&mut listing, |w| part_page(1, None, count(w)));
        let plan_splits = walked.iter().filter(|w| w.id_suffix.is_some()).count();
        assert_eq!(plan_splits, 16, "the import day on 16 id suffixes: {walked:?}");
        assert!(walked.iter().filter(|w| w.id_suffix.is_some()).all(|w| w.to.unwrap() - w.from.unwrap() <= 25 * 3_600));
        // The windows walked whole (not split) still chain: every second of the time line once.
        let mut spans: Vec<(Option<i64>, Option<i64>)> =
            walked.iter().filter(|w| w.id_suffix.is_none()).map(|w| (w.from, w.to)).collect();
        spans.push(walked.iter().find(|w| w.id_suffix.is_some()).map(|w| (w.from, w.to)).unwrap());
        spans.sort_by_key(|(from, _)| from.unwrap_or(i64::MIN));
        assert_eq!(spans.first().unwrap().0, None);
        assert_eq!(spans.last().unwrap().1, None);
        for pair in spans.windows(2) {
            assert_eq!(pair[0].1, pair[1].0, "windows share their cuts: {spans:?}");
        }
    }

    #[test]
    fn a_split_on_ids_that_does_not_add_up_walks_its_window_whole() {
        let mut listing = SearchListing::new(rules(1, 64), ListingGuard::new(1_000_000));
        probed(&mut listing, 0, 3_600, 12_000);
        // From the probe's time on, one hour announcing 40,000 of which the hex suffixes find
        // only 38,400; before it, one record.
        let walked = walk_all(&mut listing, |w| match (w.from, &w.id_suffix) {
            (None, _) => part_page(1, None, 1),
            (Some(_), None) => part_page(1, None, 40_000),
            (Some(_), Some(_)) => part_page(1, None, 2_400),
        });
        let whole: Vec<&Window> = walked.iter().filter(|w| w.from.is_some() && w.id_suffix.is_none()).collect();
        assert_eq!(whole.len(), 1, "the window again, whole: {walked:?}");
        assert_eq!(walked.len(), 1 + 16 + 1);
    }

    #[test]
    fn a_resume_token_holds_the_parts_not_done_with_their_cursors() {
        let mut listing = SearchListing::new(rules(4, 8), ListingGuard::new(1_000));
        probed(&mut listing, 1_000, 1_999, 12_000);
        let calls = sends(&mut listing, true);
        arrive(&mut listing, &calls[1], part_page(150, None, 3_000));
        let ready = arrive(&mut listing, &calls[0], part_page(150, Some("w0-p2"), 3_000));
        let token = ready[0].resume_at.clone().unwrap();

        let mut resumed = SearchListing::resume(rules(4, 8), &token, ListingGuard::new(1_000)).unwrap();
        assert_eq!(resumed.guard_mut().announced(), Some((12_000, 12_000)));
        let parts: Vec<(Option<i64>, PartState)> = plan(&resumed).parts.iter().map(|p| (p.from, p.state.clone())).collect();
        assert_eq!(
            parts,
            [(None, PartState::Ready("w0-p2".into())), (Some(1_500), PartState::Fresh), (Some(1_750), PartState::Fresh)],
            "window 1 done, window 0 at its cursor"
        );
        // The parts not started go first; then window 0 goes on at its cursor.
        for call in sends(&mut resumed, true) {
            arrive(&mut resumed, &call, part_page(1, None, 3_000));
        }
        let calls = sends(&mut resumed, true);
        assert_eq!(calls, [Call::Search { window: plan(&resumed).window(0), starting_after: Some("w0-p2".into()) }]);
        let refused = ApiError::Status { status: 400, code: "client_error".into(), message: "".into(), request_id: None };
        let error = resumed.request_failed(&calls[0], refused, Instant::now()).unwrap_err();
        assert!(matches!(error, ListingError::ResumeRefused(_)), "{error}");

        for bad in ["c1", "search1:{", "search1:{\"total\":1}"] {
            assert!(matches!(SearchListing::resume(rules(4, 8), bad, ListingGuard::new(10)), Err(ListingError::BadToken(_))));
        }
    }

    #[test]
    fn concurrency_follows_the_rate_and_the_round_trip() {
        let mut listing = SearchListing::new(SearchRules { requests_per_sec: 166.0, ..rules(4, 64) }, ListingGuard::new(10));
        assert_eq!(listing.concurrency(), START_CONCURRENCY);
        listing.note_round_trip(Some(Duration::from_millis(100)));
        assert_eq!(listing.concurrency(), 22);
        for _ in 0..100 {
            listing.note_round_trip(Some(Duration::from_millis(2)));
        }
        assert_eq!(listing.concurrency(), 2, "a fast server needs few in flight");
        for _ in 0..100 {
            listing.note_round_trip(Some(Duration::from_secs(5)));
        }
        assert_eq!(listing.concurrency(), 64, "never more than the most allowed");
    }

    #[test]
    fn times_anywhere_in_i64_are_planned_without_overflow() {
        let rules = rules(64, 4);
        for (oldest, newest) in [(i64::MIN, i64::MAX), (i64::MAX, i64::MAX), (-1, 0), (0, 0)] {
            let plan = Plan::new(&rules, oldest, newest, 1_000_000);
            assert_eq!(plan.parts.first().unwrap().from, None, "open below");
            assert_eq!(plan.parts.last().unwrap().to, None, "open above");
            for pair in plan.parts.windows(2) {
                assert_eq!(pair[0].to, pair[1].from, "{oldest}..{newest}: windows share their cuts");
            }
            let big = Part::new(None, None, None, None);
            for child in plan.split(&big, 1_000_000).unwrap_or_default().windows(2) {
                assert_eq!(child[0].to, child[1].from);
            }
        }
        assert_eq!(Plan::new(&rules, i64::MIN, i64::MAX, 1_000_000).parts.len(), 64);
        let one_second: Vec<(Option<i64>, Option<i64>)> =
            Plan::new(&rules, 5, 5, 1_000_000).parts.iter().map(|p| (p.from, p.to)).collect();
        assert_eq!(one_second, [(None, Some(5)), (Some(5), None)], "one second: before it, and from it on");
        assert_eq!(Plan::new(&rules, 0, 1_000_000, 10_000).parts.len(), 4, "windows of at least 20 pages");
    }

    #[test]
    fn an_empty_workspace_is_done_after_the_probes_and_the_counts() {
        let mut listing = SearchListing::new(rules(8, 4), ListingGuard::new(1_000));
        for call in sends(&mut listing, true) {
            arrive(&mut listing, &call, probe(None, 0));
        }
        let closing = sends(&mut listing, true);
        assert_eq!(closing, [Call::Probe { newest: false, changed_since: None }, Call::Count]);
        arrive(&mut listing, &closing[0], probe(None, 0));
        arrive(&mut listing, &closing[1], page(0, None, Some(3)));
        assert_eq!(listing.next(true, Instant::now()), Step::Done);
        assert_eq!(listing.guard_mut().listed_count(), Some(3));
    }

    #[test]
    fn the_window_queries_and_bodies_are_intercoms() {
        let window = Window { index: 3, from: Some(100), to: Some(200), id_suffix: None, changed_since: None };
        let body = Call::Search { window, starting_after: Some("c".into()) }.search_body(150).unwrap();
        assert_eq!(body["pagination"], serde_json::json!({"per_page": 150, "starting_after": "c"}));
        assert_eq!(body["sort"], serde_json::json!({"field": "created_at", "order": "ascending"}));
        assert_eq!(body["query"]["operator"], "AND");
        assert_eq!(
            body["query"]["value"][0]["value"][1],
            serde_json::json!({"field": "created_at", "operator": ">", "value": 100})
        );
        assert_eq!(body["query"]["value"][1], serde_json::json!({"field": "created_at", "operator": "<", "value": 200}));
        let narrowed = Window { index: 0, from: None, to: Some(5), id_suffix: Some("a3".into()), changed_since: None }.query();
        assert_eq!(narrowed["value"][1], serde_json::json!({"field": "id", "operator": "$", "value": "a3"}));
        let probe = Call::Probe { newest: true, changed_since: None }.search_body(150).unwrap();
        assert_eq!((probe["pagination"]["per_page"].as_u64(), probe["sort"]["order"].as_str()), (Some(1), Some("descending")));
    }
}
