//! The Fetcher actor: owns the run's [`ApiClient`] (built on its own arbiter, the runtime that
//! will use it) and sends the calls the Coordinator's listing asks for to the source's
//! endpoints. Each request runs as a task on the arbiter, so a slow or retrying request never
//! blocks the mailbox.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::api::{ApiClient, ApiError, ApiStats, Endpoints, ListedPage, RateLimiter};
use crate::config::Config;
use crate::listing::Call;

/// Fetch one page and report it to `reply_to`.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct FetchPage {
    pub call: Call,
    /// Wait this long first (polling a scroll lock): the wait runs in the request's task, so
    /// neither actor's mailbox waits.
    pub after: Option<Duration>,
    pub reply_to: Recipient<PageFetched>,
}

/// A page arrived, or could not be had (retries included).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct PageFetched {
    pub call: Call,
    pub result: Result<ListedPage, ApiError>,
}

pub(crate) struct Fetcher {
    client: Result<Rc<ApiClient>, ApiError>,
    endpoints: Rc<Endpoints>,
}

impl Fetcher {
    /// Call from the arbiter the Fetcher runs on: the HTTP client is bound to its runtime.
    pub(crate) fn new(config: &Config, limiter: Arc<RateLimiter>, stats: Arc<ApiStats>) -> Fetcher {
        Fetcher {
            client: ApiClient::new(config.api.clone(), limiter, stats).map(Rc::new),
            endpoints: Rc::new(Endpoints::new(config)),
        }
    }
}

impl Actor for Fetcher {
    type Context = Context<Self>;
}

/// Sent by the Coordinator: one request at a time for a cursor or a scroll, several at once
/// for a page list.
impl Handler<FetchPage> for Fetcher {
    type Result = ();

    fn handle(&mut self, msg: FetchPage, ctx: &mut Self::Context) {
        let (client, endpoints) = (self.client.clone(), self.endpoints.clone());
        let FetchPage { call, after, reply_to } = msg;
        let task = async move {
            if let Some(delay) = after {
                tokio::time::sleep(delay).await;
            }
            let result = match &client {
                Ok(client) => client.fetch(&endpoints, &call).await,
                Err(error) => Err(error.clone()),
            };
            reply_to.do_send(PageFetched { call, result });
        };
        ctx.spawn(task.into_actor(self));
    }
}

impl Drop for Fetcher {
    fn drop(&mut self) {
        super::stop_on_panic("fetcher");
    }
}
