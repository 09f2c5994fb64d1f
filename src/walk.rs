//! A listing walked without the pipeline: the run's own listing and API client, every
//! page fetched as the dump fetches it (one at a time, a page list or a search several at once), nothing
//! decoded or written. What the API serves, at the rate the dump would see it: the bench's
//! baseline, and a check of a listing's reach.

use std::sync::Arc;
use std::time::Instant;

use crate::api::{ApiClient, ApiStats, Endpoints, FetchedPage, RateLimiter, new_rate_limiter};
use crate::config::Config;
use crate::error::DumpError;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use crate::listing::{self, Step};

/// What a walk saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct Walked {
    /// Pages handed on by the listing (empty ones left out), and their bytes.
    pub pages: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// The lowest and highest count the API announced for the listing, when it did.
    pub announced: Option<(u64, u64)>,
}

/// Walks `config`'s listing to its end, showing each page the dump would write to `each_page`.
/// Blocks; runs its own single-thread runtime.
pub fn walk(config: &Config, each_page: impl FnMut(&FetchedPage)) -> Result<Walked, DumpError> {
    let limiter = new_rate_limiter(config.api.rate_limit_per_minute);
    walk_with(config, &limiter, &Arc::new(ApiStats::default()), each_page)
}

/// [`walk`] under a run's rate limiter, its requests counted in the run's `stats`.
pub(crate) fn walk_with(
    config: &Config,
    limiter: &Arc<RateLimiter>,
    stats: &Arc<ApiStats>,
    mut each_page: impl FnMut(&FetchedPage),
) -> Result<Walked, DumpError> {
    let config = config.clone().validate()?;
    let runtime = crate::run::own_runtime()?;
    runtime.block_on(async {
        let client = ApiClient::new(config.api.clone(), limiter.clone(), stats.clone())?;
        let endpoints = Endpoints::new(&config);
        let mut listing = listing::open(&config, None).map_err(|e| DumpError::from_opening(e, config.source.name()))?;
        let (mut walked, mut ready, started) = (Walked::default(), Vec::new(), Instant::now());
        // As the Coordinator does: every answer goes to the listing as it comes, and whatever the
        // listing then asks for goes out at once.
        let (client, endpoints) = (&client, &endpoints);
        let mut in_flight = FuturesUnordered::new();
        loop {
            loop {
                match listing.next(true, Instant::now()) {
                    Step::Send { call, after } => in_flight.push(async move {
                        tokio::time::sleep(after).await;
                        let answer = client.fetch(endpoints, &call).await;
                        (call, answer)
                    }),
                    Step::Wait => break,
                    Step::Done => {
                        walked.seconds = started.elapsed().as_secs_f64();
                        walked.announced = listing.guard_mut().announced();
                        return Ok(walked);
                    }
                }
            }
            let Some((call, answer)) = in_flight.next().await else {
                return Err(DumpError::Aborted("the listing waits with nothing in flight".into()));
            };
            let failed = |e| DumpError::from_listing(e, &call, walked.pages + 1, config.source.name());
            match answer {
                Ok(page) => listing.page_arrived(&call, page, Instant::now(), &mut ready).map_err(failed)?,
                Err(error) => listing.request_failed(&call, error, Instant::now()).map_err(failed)?,
            }
            for page in ready.drain(..) {
                walked.pages += 1;
                walked.bytes += page.size() as u64;
                each_page(&page);
            }
        }
    })
}
