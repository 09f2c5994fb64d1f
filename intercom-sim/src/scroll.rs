//! The simulator's scrolls: the one open scroll a lock allows (users and leads share one, the
//! companies scroll has its own), its `scroll_param`, its idle expiry, and the faults a test can
//! inject into it.
//!
//! Plain state behind a mutex, with the clock passed in, so every rule is testable without
//! HTTP or sleeping.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::generator::{Role, Workspace, mix64, uuid_like};

/// Records on every scroll page, fixed by the API.
pub const SCROLL_PAGE_SIZE: usize = 100;

/// The message of the documented network failure that cannot be resumed.
pub const RESTART_MESSAGE: &str = "Request failed due to an internal network error. Please restart the scroll operation.";

/// Whether a scroll hands out one `scroll_param` for its whole life or a new one every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ParamStyle {
    /// The same value on every page (what Intercom staff describe).
    Fixed,
    /// A new value each page; only the latest one is valid.
    #[default]
    Rotating,
}

/// Scroll rules and injected faults.
#[derive(Debug, Clone)]
pub struct ScrollSettings {
    pub param_style: ParamStyle,
    /// A scroll unused this long expires (60 s in Intercom).
    pub idle_expiry: Duration,
    /// Scroll requests (1-based, counted over the simulator's life) answered with the restart 500.
    pub restart_at: BTreeSet<u64>,
    /// Scroll requests at which the open scroll is found expired (404), as if it had idled.
    pub expire_at: BTreeSet<u64>,
    /// Another client holds the workspace's scroll from the start, until it idles out.
    pub foreign_scroll: bool,
}

impl Default for ScrollSettings {
    fn default() -> Self {
        ScrollSettings {
            param_style: ParamStyle::default(),
            idle_expiry: Duration::from_secs(60),
            restart_at: BTreeSet::new(),
            expire_at: BTreeSet::new(),
            foreign_scroll: false,
        }
    }
}

/// What a scroll request gets.
#[derive(Debug, PartialEq, Eq)]
pub enum ScrollAnswer {
    /// Records at these workspace indices (empty at the end), and the param to send next.
    Page { indices: Vec<u64>, scroll_param: String },
    /// 400 `scroll_exists`.
    Exists,
    /// 404 `not_found`: expired or unknown param.
    NotFound,
    /// 500 with [`RESTART_MESSAGE`]; the scroll is gone.
    Restart,
}

/// What a scroll walks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scrolled {
    /// v1 users or leads: the contacts of one role.
    Contacts(Role),
    /// 2.x companies: every company, with contacts or not.
    Companies,
}

impl From<Role> for Scrolled {
    fn from(role: Role) -> Scrolled {
        Scrolled::Contacts(role)
    }
}

#[derive(Debug)]
struct OpenScroll {
    of: Option<Scrolled>,
    param: String,
    /// The next workspace index to scan from.
    position: u64,
    last_used: Instant,
}

/// The workspace's scroll lock and its one scroll.
#[derive(Debug)]
pub struct Scrolls {
    settings: ScrollSettings,
    state: Mutex<ScrollState>,
}

#[derive(Debug)]
struct ScrollState {
    open: Option<OpenScroll>,
    requests: u64,
    /// Opens refused because another scroll held the lock.
    refused_opens: u64,
    params_issued: u64,
}

impl Scrolls {
    pub fn new(settings: ScrollSettings, now: Instant) -> Scrolls {
        let open = settings.foreign_scroll.then(|| OpenScroll {
            of: None,
            param: "foreign-scroll".into(),
            position: u64::MAX,
            last_used: now,
        });
        Scrolls { settings, state: Mutex::new(ScrollState { open, requests: 0, refused_opens: 0, params_issued: 0 }) }
    }

    /// One `GET /users/scroll` (role user), `GET /contacts/scroll` (role lead) or
    /// `GET /companies/scroll` (companies).
    pub fn request(&self, ws: &Workspace, of: impl Into<Scrolled>, param: Option<&str>, now: Instant) -> ScrollAnswer {
        let of = of.into();
        let mut state = self.state.lock().expect("the scroll lock is never poisoned");
        state.requests += 1;
        let n = state.requests;
        if let Some(open) = &state.open
            && now.duration_since(open.last_used) >= self.settings.idle_expiry
        {
            state.open = None;
        }
        if self.settings.expire_at.contains(&n) && param.is_some() {
            state.open = None;
        }
        match param {
            None if state.open.is_some() => {
                state.refused_opens += 1;
                return ScrollAnswer::Exists;
            }
            None => {
                let param = self.new_param(&mut state);
                state.open = Some(OpenScroll { of: Some(of), param, position: 0, last_used: now });
            }
            Some(sent) => {
                let matches = state.open.as_ref().is_some_and(|o| o.param == sent && o.of == Some(of));
                if !matches {
                    return ScrollAnswer::NotFound;
                }
            }
        }
        if self.settings.restart_at.contains(&n) {
            state.open = None;
            return ScrollAnswer::Restart;
        }
        let rotate = self.settings.param_style == ParamStyle::Rotating;
        let next_param = if rotate { Some(self.new_param(&mut state)) } else { None };
        let open = state.open.as_mut().expect("opened or found above");
        let mut indices = Vec::with_capacity(SCROLL_PAGE_SIZE);
        let mut i = open.position;
        match of {
            Scrolled::Contacts(role) => {
                while indices.len() < SCROLL_PAGE_SIZE && i < ws.contacts {
                    if ws.role(i) == role && ws.present(i) {
                        indices.push(i);
                    }
                    i += 1;
                }
            }
            Scrolled::Companies => {
                let end = (i + SCROLL_PAGE_SIZE as u64).min(ws.companies).max(i);
                indices.extend(i..end);
                i = end;
            }
        }
        open.position = i;
        open.last_used = now;
        if let Some(param) = next_param {
            open.param = param;
        }
        let scroll_param = open.param.clone();
        if indices.is_empty() {
            // The end: the param expires and the lock is free.
            state.open = None;
        }
        ScrollAnswer::Page { indices, scroll_param }
    }

    /// Scroll requests received so far.
    /// Opens refused so far because another scroll held the lock.
    pub fn refused_opens(&self) -> u64 {
        self.state.lock().expect("the scroll lock is never poisoned").refused_opens
    }

    pub fn requests(&self) -> u64 {
        self.state.lock().expect("the scroll lock is never poisoned").requests
    }

    fn new_param(&self, state: &mut ScrollState) -> String {
        state.params_issued += 1;
        uuid_like(mix64(state.params_issued), mix64(!state.params_issued))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(answer: ScrollAnswer) -> (Vec<u64>, String) {
        match answer {
            ScrollAnswer::Page { indices, scroll_param } => (indices, scroll_param),
            other => panic!("expected a page, got {other:?}"),
        }
    }

    fn scroll_all(scrolls: &Scrolls, ws: &Workspace, role: Role, now: Instant) -> Vec<u64> {
        let (mut all, mut param) = page(scrolls.request(ws, role, None, now));
        loop {
            let (indices, next) = page(scrolls.request(ws, role, Some(&param), now));
            if indices.is_empty() {
                return all;
            }
            all.extend(indices);
            param = next;
        }
    }

    #[test]
    fn scrolls_every_user_then_frees_the_lock() {
        let ws = Workspace::new(5, 1_234);
        let now = Instant::now();
        for style in [ParamStyle::Fixed, ParamStyle::Rotating] {
            let scrolls = Scrolls::new(ScrollSettings { param_style: style, ..Default::default() }, now);
            let users = scroll_all(&scrolls, &ws, Role::User, now);
            let expected: Vec<u64> = (0..1_234).filter(|&i| ws.role(i) == Role::User).collect();
            assert_eq!(users, expected);
            let leads = scroll_all(&scrolls, &ws, Role::Lead, now);
            assert_eq!(leads.len() + users.len(), 1_234);
        }
    }

    #[test]
    fn one_scroll_a_workspace_and_idle_scrolls_expire() {
        let ws = Workspace::new(5, 1_000);
        let now = Instant::now();
        let scrolls = Scrolls::new(ScrollSettings { idle_expiry: Duration::from_secs(60), ..Default::default() }, now);
        let (_, param) = page(scrolls.request(&ws, Role::User, None, now));
        assert_eq!(scrolls.request(&ws, Role::Lead, None, now), ScrollAnswer::Exists, "users and leads share the lock");
        assert_eq!(scrolls.request(&ws, Role::User, None, now + Duration::from_secs(59)), ScrollAnswer::Exists);
        let later = now + Duration::from_secs(61);
        assert_eq!(scrolls.request(&ws, Role::User, Some(&param), later), ScrollAnswer::NotFound);
        assert!(matches!(scrolls.request(&ws, Role::Lead, None, later), ScrollAnswer::Page { .. }));
    }

    #[test]
    fn rotating_params_invalidate_the_old_one() {
        let ws = Workspace::new(5, 1_000);
        let now = Instant::now();
        let scrolls = Scrolls::new(ScrollSettings::default(), now);
        let (_, first) = page(scrolls.request(&ws, Role::User, None, now));
        let (_, second) = page(scrolls.request(&ws, Role::User, Some(&first), now));
        assert_ne!(first, second);
        assert_eq!(scrolls.request(&ws, Role::User, Some(&first), now), ScrollAnswer::NotFound);
    }

    #[test]
    fn injected_faults_end_the_scroll() {
        let ws = Workspace::new(5, 1_000);
        let now = Instant::now();
        let settings = ScrollSettings { restart_at: BTreeSet::from([2]), expire_at: BTreeSet::from([4]), ..Default::default() };
        let scrolls = Scrolls::new(settings, now);
        let (_, param) = page(scrolls.request(&ws, Role::User, None, now));
        assert_eq!(scrolls.request(&ws, Role::User, Some(&param), now), ScrollAnswer::Restart);
        let (_, param) = page(scrolls.request(&ws, Role::User, None, now));
        assert_eq!(scrolls.request(&ws, Role::User, Some(&param), now), ScrollAnswer::NotFound);
        assert!(matches!(scrolls.request(&ws, Role::User, None, now), ScrollAnswer::Page { .. }));
    }

    #[test]
    fn a_foreign_scroll_holds_the_lock_until_it_idles_out() {
        let ws = Workspace::new(5, 100);
        let now = Instant::now();
        let settings = ScrollSettings { foreign_scroll: true, idle_expiry: Duration::from_secs(3), ..Default::default() };
        let scrolls = Scrolls::new(settings, now);
        assert_eq!(scrolls.request(&ws, Role::User, None, now + Duration::from_secs(2)), ScrollAnswer::Exists);
        assert!(matches!(scrolls.request(&ws, Role::User, None, now + Duration::from_secs(3)), ScrollAnswer::Page { .. }));
    }
}
