//! The Fetcher actor: owns the run's [`ApiClient`] (built on its own arbiter, the runtime that
//! will use it) and performs page requests for the Coordinator. Each request runs as a task on
//! the arbiter, so a slow or retrying request never blocks the mailbox.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;

use crate::api::{ApiClient, ApiError, ApiStats, ListedPage, RateLimiter};
use crate::config::{Config, PageQuery, Source};

/// Which page to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    /// A page of the v2 cursor list: the first when `starting_after` is `None`.
    ContactsCursor { starting_after: Option<String> },
    /// A page of the v1 scroll of users or leads; `None` opens a scroll. `params_rotate` says
    /// whether this scroll has been seen to hand out a new param every page.
    Scroll { source: Source, scroll_param: Option<String>, params_rotate: bool },
    /// Page `page` (from 1) of the v1 page list of users or leads.
    ListPage { source: Source, page: u64, per_page: u32, query: Arc<PageQuery> },
}

/// Fetch one page and report it to `reply_to`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FetchPage {
    pub request: PageRequest,
    /// Wait this long first (polling a scroll lock): the wait runs in the request's task, so
    /// neither actor's mailbox waits.
    pub after: Option<Duration>,
    pub reply_to: Recipient<PageFetched>,
}

/// A page arrived, or could not be had (retries included).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PageFetched {
    pub request: PageRequest,
    pub result: Result<ListedPage, ApiError>,
}

pub struct Fetcher {
    client: Result<Rc<ApiClient>, ApiError>,
}

impl Fetcher {
    /// Call from the arbiter the Fetcher runs on: the HTTP client is bound to its runtime.
    pub fn new(config: &Config, limiter: Arc<RateLimiter>, stats: Arc<ApiStats>) -> Fetcher {
        Fetcher { client: ApiClient::new(config.api.clone(), limiter, stats).map(Rc::new) }
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
        let client = self.client.clone();
        let FetchPage { request, after, reply_to } = msg;
        let task = async move {
            if let Some(delay) = after {
                tokio::time::sleep(delay).await;
            }
            let result = match (&client, &request) {
                (Ok(client), PageRequest::ContactsCursor { starting_after }) => {
                    client.list_contacts(starting_after.as_deref()).await
                }
                (Ok(client), PageRequest::Scroll { source, scroll_param, params_rotate }) => {
                    client.scroll(*source, scroll_param.as_deref(), *params_rotate).await
                }
                (Ok(client), PageRequest::ListPage { source, page, per_page, query }) => {
                    client.list_page(*source, *page, *per_page, query).await
                }
                (Err(error), _) => Err(error.clone()),
            };
            reply_to.do_send(PageFetched { request, result });
        };
        ctx.spawn(task.into_actor(self));
    }
}
