//! `GET /v1/notifications/event-stream`: Agent's notification stream, as Server-Sent
//! Events (`data: <json>` and a blank line per notification) or, with `raw`, one JSON
//! object per line. `filter` (repeated, or comma-separated: `decision`, `track`,
//! `project_config_update`) keeps those topics; names Agent does not know are ignored,
//! as Agent ignores them, and no filter keeps every topic.
//!
//! Served only with `[agent] notifications = true`, as Agent serves it only with
//! `enableNotifications`. The stream ends when the client goes or the server stops; a
//! client too slow to keep up misses notifications and is told how many, in an SSE
//! comment.

use std::collections::HashSet;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::agent::{AgentError, Refusal, hosted};
use crate::agent_notifications::Topic;
use crate::decisions::Subscription;
use crate::state::AppState;

/// A comment this often keeps proxies from closing an idle stream, and finds clients
/// that left.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// The handler.
pub async fn event_stream(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, Refusal> {
    if !app.config().agent.notifications {
        return Err(AgentError(
            StatusCode::NOT_FOUND,
            "notifications are turned off; turn them on with `[agent] notifications = true`".to_owned(),
        )
        .into());
    }
    let (filter, raw) = parse_query(query.as_deref().unwrap_or(""));
    let (sdk_key, hosted) = hosted(&app, &headers)?;
    let max = app.config().agent.max_notification_streams;
    let subscription = app.decisions().subscribe(&app, sdk_key, &hosted, max)?;
    let stream = Streaming { subscription, filter, raw, stopping: app.stopping() };
    let body = Body::from_stream(futures::stream::unfold(stream, Streaming::next));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")], body)
        .into_response())
}

/// The topics kept and whether `raw` was asked for.
fn parse_query(query: &str) -> (HashSet<Topic>, bool) {
    let mut filter = HashSet::new();
    let mut named = false;
    let mut raw = false;
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*name {
            "filter" => {
                named = true;
                filter.extend(value.split(',').filter_map(|v| Topic::parse(v.trim())));
            }
            "raw" => raw = true,
            _ => {}
        }
    }
    if !named {
        filter.extend(Topic::ALL);
    }
    (filter, raw)
}

struct Streaming {
    subscription: Subscription,
    filter: HashSet<Topic>,
    raw: bool,
    stopping: CancellationToken,
}

impl Streaming {
    /// The next chunk of the body; `None` ends the stream.
    async fn next(mut self) -> Option<(Result<Bytes, std::io::Error>, Self)> {
        loop {
            let chunk = tokio::select! {
                () = self.stopping.cancelled() => return None,
                () = tokio::time::sleep(KEEP_ALIVE), if !self.raw => Bytes::from_static(b":\n\n"),
                received = self.subscription.receiver.recv() => match received {
                    Ok(message) if self.filter.contains(&message.topic) => {
                        let framed = if self.raw {
                            format!("{}\n", message.json)
                        } else {
                            format!("data: {}\n\n", message.json)
                        };
                        Bytes::from(framed)
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) if !self.raw => {
                        Bytes::from(format!(": {missed} notifications missed: the stream fell behind\n\n"))
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            };
            return Some((Ok(chunk), self));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_repeated_or_comma_separated_and_unknown_names_are_ignored() {
        let (filter, raw) = parse_query("filter=decision,bogus&filter=track");
        assert_eq!(filter, HashSet::from([Topic::Decision, Topic::Track]));
        assert!(!raw);
        let (filter, raw) = parse_query("raw");
        assert_eq!(filter, HashSet::from(Topic::ALL));
        assert!(raw);
        // A filter naming nothing Agent knows keeps nothing, as in Agent.
        assert!(parse_query("filter=bogus").0.is_empty());
    }
}
