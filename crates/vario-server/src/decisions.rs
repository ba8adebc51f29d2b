//! Decisions made by the server for clients that ask over HTTP (OpenFeature's OFREP,
//! Optimizely Agent's API): one SDK client per environment, on the environment's hosted
//! datafile, whose events go straight into the event log (no HTTP hop), deduplicated and
//! durable as any batch; and the notification streams of those clients.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use vario_datafile::ProjectConfig;
use vario_sdk::{Client, DispatchError, EventDispatcher, InMemoryUserProfileService, ListenerId, LogEvent};
use vario_store::{PreparedBatch, now_ms};

use crate::agent_notifications::{self as notifications, Message};
use crate::error::{ApiError, Code};
use crate::state::{AppState, Hosted};
use crate::validate::parse_events;

/// The deciding clients, by SDK key.
#[derive(Default)]
pub struct Decisions {
    clients: Mutex<HashMap<String, Deciding>>,
    // Notification streams open, over every environment.
    streams: AtomicUsize,
}

struct Deciding {
    // The ETag of the hosted datafile the client decides on.
    etag: String,
    client: Arc<Client>,
    // The client's user profiles; `None` when turned off.
    profiles: Option<Arc<InMemoryUserProfileService>>,
    // Its notification stream while anyone subscribes.
    stream: Option<Stream>,
}

struct Stream {
    // Tells this stream from a later one of the same environment (after a reset).
    id: u64,
    sender: broadcast::Sender<Message>,
    subscribers: usize,
    listeners: Vec<ListenerId>,
}

/// Notifications a subscriber may fall behind by before it misses some: a stream that
/// cannot keep up is told how many it missed, and never holds the deciding threads.
const STREAM_BACKLOG: usize = 4096;

/// One subscriber's notifications of one environment; unsubscribes when dropped.
pub struct Subscription {
    /// The messages, as they come.
    pub receiver: broadcast::Receiver<Message>,
    app: AppState,
    sdk_key: String,
    stream: u64,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.app.decisions().unsubscribe(&self.sdk_key, self.stream);
    }
}

static NEXT_STREAM: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl Decisions {
    /// The client of `sdk_key`, deciding on `hosted` (a changed datafile is loaded into
    /// the existing client, so its queued events are kept).
    pub fn client(&self, app: &AppState, sdk_key: &str, hosted: &Hosted) -> Result<Arc<Client>, ApiError> {
        self.with_client(app, sdk_key, hosted, |d| Arc::clone(&d.client))
    }

    /// The user profiles the client of `sdk_key` keeps (`None` when turned off, see
    /// [`crate::AgentConfig::user_profiles`]).
    pub fn profiles(
        &self,
        app: &AppState,
        sdk_key: &str,
        hosted: &Hosted,
    ) -> Result<Option<Arc<InMemoryUserProfileService>>, ApiError> {
        self.with_client(app, sdk_key, hosted, |d| d.profiles.clone())
    }

    /// Subscribes to the notifications of `sdk_key`'s client: its decisions, conversions
    /// and config updates. At most `max` streams are open at once, over every
    /// environment; past it, 503 with `Retry-After`.
    pub fn subscribe(
        &self,
        app: &AppState,
        sdk_key: &str,
        hosted: &Hosted,
        max: usize,
    ) -> Result<Subscription, ApiError> {
        if self.streams.fetch_add(1, Ordering::AcqRel) >= max {
            self.streams.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::new(
                Code::Overloaded,
                format!(
                    "{max} notification streams are open, as many as allowed (`[agent] max_notification_streams`); retry later"
                ),
            ));
        }
        let receiver = self.with_client(app, sdk_key, hosted, |d| {
            let stream = d.stream.get_or_insert_with(|| {
                let (sender, _) = broadcast::channel(STREAM_BACKLOG);
                let center = d.client.notification_center();
                let (decisions, tracks, updates) = (sender.clone(), sender.clone(), sender.clone());
                let listeners = vec![
                    center.add_decision_listener(move |n| {
                        let _ = decisions.send(notifications::decision(n));
                    }),
                    center.add_track_listener(move |n| {
                        let _ = tracks.send(notifications::track(n));
                    }),
                    center.add_config_update_listener(move |n| {
                        let _ = updates.send(notifications::config_update(n));
                    }),
                ];
                Stream { id: NEXT_STREAM.fetch_add(1, Ordering::Relaxed), sender, subscribers: 0, listeners }
            });
            stream.subscribers += 1;
            (stream.sender.subscribe(), stream.id)
        });
        match receiver {
            Ok((receiver, stream)) => {
                Ok(Subscription { receiver, app: app.clone(), sdk_key: sdk_key.to_owned(), stream })
            }
            Err(e) => {
                self.streams.fetch_sub(1, Ordering::AcqRel);
                Err(e)
            }
        }
    }

    fn unsubscribe(&self, sdk_key: &str, id: u64) {
        self.streams.fetch_sub(1, Ordering::AcqRel);
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(d) = clients.get_mut(sdk_key) else { return };
        // A stream of a client since reset is not this subscriber's.
        let Some(stream) = d.stream.as_mut().filter(|s| s.id == id) else { return };
        stream.subscribers = stream.subscribers.saturating_sub(1);
        if stream.subscribers == 0 {
            // The last one: deciding stops building messages.
            for id in std::mem::take(&mut stream.listeners) {
                d.client.notification_center().remove_listener(id);
            }
            d.stream = None;
        }
    }

    /// Loads a newly hosted datafile into `sdk_key`'s client now, if it has one (so
    /// that its notification streams tell of the change when it happens, not at the
    /// next decision).
    pub fn refresh(&self, app: &AppState, sdk_key: &str, hosted: &Hosted) {
        if !self.clients.lock().unwrap_or_else(PoisonError::into_inner).contains_key(sdk_key) {
            return;
        }
        if let Err(e) = self.with_client(app, sdk_key, hosted, |_| ()) {
            tracing::warn!(sdk_key, error = %e.message, "the new datafile could not be loaded into the deciding client");
        }
    }

    fn with_client<T>(
        &self,
        app: &AppState,
        sdk_key: &str,
        hosted: &Hosted,
        read: impl FnOnce(&mut Deciding) -> T,
    ) -> Result<T, ApiError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(d) = clients.get_mut(sdk_key).filter(|d| d.etag == hosted.etag) {
            return Ok(read(d));
        }
        let text = std::str::from_utf8(&hosted.bytes).map_err(ApiError::internal)?;
        // Hosted datafiles were checked when stored; one that no longer loads is a bug.
        let config = Arc::new(ProjectConfig::from_json(text).map_err(ApiError::internal)?);
        match clients.get_mut(sdk_key) {
            Some(d) => {
                d.client.set_config(config);
                d.etag.clone_from(&hosted.etag);
                Ok(read(d))
            }
            None => {
                let capacity = app.config().agent.user_profiles;
                let profiles = (capacity > 0).then(|| Arc::new(InMemoryUserProfileService::with_capacity(capacity)));
                let mut builder =
                    Client::builder().config(config).event_dispatcher(StoreDispatcher { app: app.clone() });
                if let Some(profiles) = &profiles {
                    builder = builder.user_profile_service(Arc::clone(profiles));
                }
                let client = Arc::new(builder.build().map_err(ApiError::internal)?);
                let mut d = Deciding { etag: hosted.etag.clone(), client, profiles, stream: None };
                let answer = read(&mut d);
                clients.insert(sdk_key.to_owned(), d);
                Ok(answer)
            }
        }
    }

    /// Drops the client of `sdk_key` (Agent's `/v1/reset`): its forced variations, user
    /// profiles and notification streams go with it, after its queued events are in the
    /// log; the next request starts a new client. Whether there was one. Blocks.
    pub fn reset(&self, sdk_key: &str) -> bool {
        let removed = self.clients.lock().unwrap_or_else(PoisonError::into_inner).remove(sdk_key);
        let Some(d) = removed else { return false };
        let report = d.client.close();
        if !report.all_delivered() {
            tracing::warn!(sdk_key, ?report, "decision events not all stored at reset");
        }
        true
    }

    /// Delivers every queued event into the log and drops the clients (at shutdown,
    /// before the log closes). Blocks.
    pub fn close(&self) {
        let clients = std::mem::take(&mut *self.clients.lock().unwrap_or_else(PoisonError::into_inner));
        for (sdk_key, d) in clients {
            let report = d.client.close();
            if !report.all_delivered() {
                tracing::warn!(sdk_key, ?report, "decision events not all stored at shutdown");
            }
        }
    }
}

/// Writes an SDK client's event batches into the event log, as `POST /v1/events` would.
struct StoreDispatcher {
    app: AppState,
}

/// Where [`DispatchError`]s say the events went.
const LOG: &str = "the event log";

impl EventDispatcher for StoreDispatcher {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        let refused = |status: u16, reason: &dyn std::fmt::Display| {
            tracing::warn!(status, %reason, "decision events not stored");
            DispatchError::Status { url: LOG.into(), status, retry_after: Some(std::time::Duration::from_secs(1)) }
        };
        let json = event.json();
        let batch = parse_events(&json).map_err(|e| refused(e.code.status().as_u16(), &e.message))?;
        let prepared = PreparedBatch::from_batch(&batch, now_ms()).map_err(|e| refused(400, &e))?;
        let store = self.app.store().map_err(|e| refused(503, &e.message))?;
        self.app.check_compaction_lag().map_err(|e| refused(503, &e.message))?;
        let (tx, rx) = std::sync::mpsc::channel();
        store.submit(prepared, move |result| {
            let _ = tx.send(result);
        });
        match rx.recv() {
            Ok(Ok(receipt)) => {
                let m = self.app.metrics();
                m.events_stored.fetch_add(receipt.stored, std::sync::atomic::Ordering::Relaxed);
                m.events_duplicate.fetch_add(receipt.duplicates, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
            Ok(Err(e)) => Err(refused(503, &e)),
            Err(_) => Err(refused(503, &"the event log closed")),
        }
    }
}

/// The SDK key a request names: `Authorization: Bearer <key>` or `X-API-Key: <key>`
/// (the two credentials OFREP providers send).
pub fn sdk_key(headers: &axum::http::HeaderMap) -> Result<&str, ApiError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    let api_key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    bearer.or(api_key).map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
        ApiError::new(
            Code::Unauthorized,
            "name the environment: its SDK key as `Authorization: Bearer <sdk key>` or `X-API-Key: <sdk key>`",
        )
    })
}
