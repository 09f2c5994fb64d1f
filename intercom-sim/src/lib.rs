//! An Intercom API simulator: an HTTP server on loopback that speaks the API as Intercom's
//! documents describe it, quirks included, for any client (the official SDKs, connectors, and
//! intercom-dump, of which it knows nothing). It owns its generated workspace ([`generator`],
//! the v1 shapes in [`v1`], records rendered to disk ahead in [`rendered`]), its HTTP surface
//! and the checks every request passes ([`server`]), how the workspace changes between runs
//! ([`evolve`]), the versions it accepts ([`version`]), its
//! listings' state (the v1 scroll and its lock in [`scroll`], the v1 page lists in
//! [`page_list`]), its rate-limit windows ([`rate`]) and the faults it can be told to inject
//! ([`faults`]).
//!
//! intercom-dump's demo, tests and benchmarks run against it; `intercom-dump sim` runs it alone.

pub mod companies;
pub mod evolve;
pub mod faults;
pub mod generator;
pub mod page_list;
pub mod rate;
pub mod reference;
pub mod relations;
pub mod rendered;
pub mod scroll;
pub mod search;
pub mod server;
pub mod v1;
pub mod version;

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::oneshot;

pub use evolve::EvolveSettings;
pub use faults::{FaultKind, FaultPlan, FaultPlanFile, FaultRule, When};
pub use generator::{Contact, RecordShape, Role, Workspace};
pub use page_list::PastCap;
pub use scroll::{ParamStyle, ScrollSettings};
pub use server::SimState;

/// The Intercom-Version a request without the header gets.
pub const DEFAULT_API_VERSION: &str = "2.14";

/// The documented private-app limit, 10,000 a minute, as Intercom enforces it: per 10 s window.
pub const DEFAULT_LIMIT_PER_WINDOW: u32 = 1_666;

/// The shape of `pages.next` in v2 cursor answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum NextShape {
    /// `{"page": 2, "starting_after": "..."}`: what real answers carry.
    #[default]
    Page,
    /// `{"per_page": 150, "starting_after": "..."}`: what the OpenAPI schema says.
    PerPage,
}

/// Everything the simulator can be told.
#[derive(Clone)]
pub struct SimConfig {
    pub seed: u64,
    pub contacts: u64,
    /// The bearer token it accepts.
    pub token: String,
    /// Requests allowed per rate-limit window.
    pub limit_per_window: u32,
    pub window_secs: u64,
    /// The version applied when a request has no `Intercom-Version` header.
    pub default_version: String,
    pub next_shape: NextShape,
    /// v1 scroll rules and faults.
    pub scroll: ScrollSettings,
    /// Companies served (one for every 20 contacts unless told otherwise).
    pub companies: u64,
    /// The companies scroll's rules and faults (its lock is its own).
    pub company_scroll: ScrollSettings,
    /// Percent of the contacts whose tags and companies run past ten (`has_more`).
    pub long_lists_percent: u8,
    /// The most records v1 paging reaches, and what a page past it answers.
    pub page_cap: u64,
    pub past_cap: PastCap,
    /// How `POST /contacts/search` matches dates (by day in a time zone, or by second), and the
    /// newest contacts it does not see yet.
    pub search: search::SearchSettings,
    /// Percent of the contacts created by one import, within one hour (a skewed workspace).
    pub imported_percent: u8,
    /// Contacts a second whose `updated_at` moves while the simulator serves (0: none). Pages
    /// are then generated as asked for, never pre-rendered.
    pub live_updates_per_sec: u32,
    /// `GET /data_attributes` declares this custom attribute with a type its values do not have.
    pub misdeclared_attribute: Option<String>,
    /// Which requests fail, and how.
    pub faults: FaultPlan,
    /// Render these record shapes to disk before serving, and serve pages from there.
    pub prerender: Option<Prerender>,
    /// Compress answers with gzip for clients that ask, as Intercom does. Off in process (the
    /// demo, the bench, the tests): compressing on loopback only spends the cores both sides share.
    pub gzip: bool,
    /// Serve the workspace as it stands after these steps of change (`evolve`).
    pub evolve: Option<EvolveSettings>,
}

/// Records rendered before the simulator serves: pages cost a read instead of generation.
#[derive(Debug, Clone)]
pub struct Prerender {
    /// Where the rendered files go (removed when the simulator stops).
    pub dir: std::path::PathBuf,
    pub shapes: Vec<RecordShape>,
    /// Threads rendering.
    pub threads: usize,
}

impl Prerender {
    /// `shapes` rendered into `dir` on every core.
    pub fn new(dir: impl Into<std::path::PathBuf>, shapes: Vec<RecordShape>) -> Prerender {
        Prerender { dir: dir.into(), shapes, threads: std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }
}

impl std::fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimConfig")
            .field("seed", &self.seed)
            .field("contacts", &self.contacts)
            .field("token", &"<redacted>")
            .field("limit_per_window", &self.limit_per_window)
            .field("window_secs", &self.window_secs)
            .field("default_version", &self.default_version)
            .field("next_shape", &self.next_shape)
            .field("scroll", &self.scroll)
            .field("companies", &self.companies)
            .field("company_scroll", &self.company_scroll)
            .field("page_cap", &self.page_cap)
            .field("past_cap", &self.past_cap)
            .field("search", &self.search)
            .field("imported_percent", &self.imported_percent)
            .field("live_updates_per_sec", &self.live_updates_per_sec)
            .field("misdeclared_attribute", &self.misdeclared_attribute)
            .field("faults", &self.faults)
            .field("prerender", &self.prerender)
            .field("gzip", &self.gzip)
            .field("evolve", &self.evolve)
            .finish()
    }
}

impl SimConfig {
    pub fn new(seed: u64, contacts: u64, token: impl Into<String>) -> Self {
        SimConfig {
            seed,
            contacts,
            token: token.into(),
            limit_per_window: DEFAULT_LIMIT_PER_WINDOW,
            window_secs: 10,
            default_version: DEFAULT_API_VERSION.to_string(),
            next_shape: NextShape::default(),
            scroll: ScrollSettings::default(),
            companies: contacts.div_ceil(20),
            company_scroll: ScrollSettings::default(),
            long_lists_percent: generator::DEFAULT_LONG_LISTS_PERCENT,
            page_cap: page_list::DEFAULT_PAGE_CAP,
            past_cap: PastCap::default(),
            search: search::SearchSettings::default(),
            imported_percent: 0,
            live_updates_per_sec: 0,
            misdeclared_attribute: None,
            faults: FaultPlan::default(),
            prerender: None,
            gzip: false,
            evolve: None,
        }
    }

    /// The workspace served, without its live updates (they count from when it starts serving).
    pub fn workspace(&self) -> Workspace {
        let ws = Workspace::new(self.seed, self.contacts)
            .with_import(self.imported_percent)
            .with_companies(self.companies)
            .with_long_lists(self.long_lists_percent);
        match self.evolve {
            Some(settings) => ws.evolved(settings),
            None => ws,
        }
    }
}

/// How long a stopping simulator lets open connections finish.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A simulator running on its own thread and runtime; dropping the handle stops it (within
/// [`SHUTDOWN_GRACE`] of the last answer, however its clients behave).
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<SimState>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// Start a simulator on `127.0.0.1:port` (0 picks a free port) in a thread of its own, so
    /// that it serves whatever the caller's threads are doing. Records to pre-render are
    /// rendered first.
    pub fn spawn(config: SimConfig, port: u16) -> std::io::Result<SimHandle> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let prerender = config.prerender.clone();
        let mut state = SimState::new(config);
        if let Some(prerender) = prerender {
            state.prerender(&prerender.dir, &prerender.shapes, prerender.threads)?;
        }
        let state = Arc::new(state);
        let (shutdown, stop) = oneshot::channel();
        let served = state.clone();
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("intercom-sim").enable_all().build()?;
        let thread = std::thread::Builder::new().name("intercom-sim".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("a fresh listener registers");
                let (stopping, mut stopped) = tokio::sync::watch::channel(false);
                let mut grace = stopped.clone();
                tokio::spawn(async move {
                    let _ = stop.await;
                    let _ = stopping.send(true);
                });
                let serving = server::serve(listener, served, async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                });
                // A graceful shutdown waits for the open connections to end; a client that keeps
                // one open does not hold the simulator's owner past the grace period: the
                // runtime, and every connection with it, is dropped then.
                let grace_over = async move {
                    let _ = grace.wait_for(|stop| *stop).await;
                    tokio::time::sleep(SHUTDOWN_GRACE).await;
                };
                tokio::select! {
                    result = serving => if let Err(error) = result {
                        tracing::error!(%error, "simulator stopped");
                    },
                    () = grace_over => tracing::warn!(grace = ?SHUTDOWN_GRACE, "connections still open after the grace period: closed"),
                }
            });
        })?;
        Ok(SimHandle { addr, state, shutdown: Some(shutdown), thread: Some(thread) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, what `--base-url` takes.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    /// Requests received so far, answered or refused.
    pub fn requests(&self) -> u64 {
        self.state.requests()
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_client_that_holds_a_connection_open_does_not_hold_the_simulators_owner() {
        let sim = SimHandle::spawn(SimConfig::new(1, 10, "t"), 0).unwrap();
        // Half a request, never finished, on a connection left open.
        let mut stream = std::net::TcpStream::connect(sim.addr()).unwrap();
        stream.write_all(b"GET /contacts HTTP/1.1\r\nHost: x\r\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let dropping = std::time::Instant::now();
        drop(sim);
        assert!(dropping.elapsed() < SHUTDOWN_GRACE + std::time::Duration::from_secs(3), "{:?}", dropping.elapsed());
        drop(stream);
    }
}
