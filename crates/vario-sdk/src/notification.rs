//! The notification centre (decisions.md §8): listeners called when the SDK decides,
//! activates, tracks, hands a batch to the dispatcher, gives a batch up, or installs a
//! new config.
//!
//! - Cheap to clone: every clone shares one set of listeners.
//! - Emitting costs one atomic load when nobody listens for that kind: check
//!   [`NotificationCenter::has_listeners`] before building a payload, or let
//!   [`NotificationCenter::notify_with`] do it.
//! - Listeners run on the emitting thread, in the order they were added, without any
//!   lock held (a listener may add or remove listeners). A listener that panics is
//!   caught and logged; the SDK and the other listeners carry on.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use vario_sdk::{ConfigUpdateNotification, NotificationCenter, NotificationKind};
//!
//! let center = NotificationCenter::new();
//! let seen = Arc::new(AtomicUsize::new(0));
//! let counter = seen.clone();
//! let id = center.add_config_update_listener(move |update| {
//!     assert_eq!(update.revision, "42");
//!     counter.fetch_add(1, Ordering::Relaxed);
//! });
//! center.notify_with(|| ConfigUpdateNotification { revision: "42".into(), previous_revision: None });
//! assert!(center.remove_listener(id));
//! assert!(!center.has_listeners(NotificationKind::ConfigUpdate));
//! center.notify_with(|| ConfigUpdateNotification { revision: "43".into(), previous_revision: None });
//! assert_eq!(seen.load(Ordering::Relaxed), 1);
//! ```

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;
use serde_json::{Map, Value};
use vario_core::Attributes;
use vario_events::{DispatchError, LogEvent};

/// What a listener listens for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// A decision was made (any decision API); payload [`DecisionNotification`].
    Decision,
    /// An impression was created (deprecated in the other SDKs, kept for parity);
    /// payload [`ActivateNotification`].
    Activate,
    /// A conversion was tracked; payload [`TrackNotification`].
    Track,
    /// The event processor handed a batch to the dispatcher; payload [`LogEvent`].
    LogEvent,
    /// The event processor gave a batch up; payload [`LogEventFailedNotification`].
    LogEventFailed,
    /// A new config (revision) was installed; payload [`ConfigUpdateNotification`].
    ConfigUpdate,
}

impl NotificationKind {
    /// Every kind.
    pub const ALL: [Self; 6] =
        [Self::Decision, Self::Activate, Self::Track, Self::LogEvent, Self::LogEventFailed, Self::ConfigUpdate];

    /// The name the other SDKs use (`DECISION`, `LOG_EVENT`, ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Decision => "DECISION",
            Self::Activate => "ACTIVATE",
            Self::Track => "TRACK",
            Self::LogEvent => "LOG_EVENT",
            Self::LogEventFailed => "LOG_EVENT_FAILED",
            Self::ConfigUpdate => "OPTIMIZELY_CONFIG_UPDATE",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which API made a decision (the `type` argument of the reference SDK's DECISION
/// notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecisionType {
    /// `decide`, `decide_for_keys`, `decide_all`: `"flag"`.
    Flag,
    /// `is_feature_enabled`: `"feature"`.
    Feature,
    /// `activate`/`get_variation` of an experiment that is no flag's feature test:
    /// `"ab-test"`.
    AbTest,
    /// `activate`/`get_variation` of a flag's feature test: `"feature-test"`.
    FeatureTest,
    /// `get_feature_variable*`: `"feature-variable"`.
    FeatureVariable,
    /// `get_all_feature_variables`: `"all-feature-variables"`.
    AllFeatureVariables,
}

impl DecisionType {
    /// The reference SDK's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Flag => "flag",
            Self::Feature => "feature",
            Self::AbTest => "ab-test",
            Self::FeatureTest => "feature-test",
            Self::FeatureVariable => "feature-variable",
            Self::AllFeatureVariables => "all-feature-variables",
        }
    }
}

impl fmt::Display for DecisionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision was made.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionNotification {
    /// Which API decided.
    pub decision_type: DecisionType,
    /// The user.
    pub user_id: String,
    /// The user's attributes (empty when none were given).
    pub attributes: Attributes,
    /// The decision, keyed as the reference SDK keys it (decisions.md §8): for
    /// [`DecisionType::Flag`] `flag_key, enabled, variables, variation_key, rule_key,
    /// reasons, decision_event_dispatched, experiment_id, variation_id`; for
    /// [`DecisionType::Feature`] `feature_key, feature_enabled, source, source_info`; and
    /// so on.
    pub info: Value,
}

/// An impression was created (`activate`, `is_feature_enabled`, `decide`).
#[derive(Debug, Clone, PartialEq)]
pub struct ActivateNotification {
    /// The experiment (or rule) key; empty when no rule decided.
    pub experiment_key: String,
    /// The user.
    pub user_id: String,
    /// The user's attributes.
    pub attributes: Attributes,
    /// The variation key, if a variation was decided.
    pub variation_key: Option<String>,
    /// The impression as a one-event batch.
    pub log_event: LogEvent,
}

/// A conversion was tracked.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackNotification {
    /// The event key.
    pub event_key: String,
    /// The user.
    pub user_id: String,
    /// The user's attributes.
    pub attributes: Attributes,
    /// The event tags, as given.
    pub event_tags: Option<Map<String, Value>>,
    /// The conversion as a one-event batch.
    pub log_event: LogEvent,
}

/// Why the event processor gave a batch up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureReason {
    /// The endpoint refused it with an error that would repeat (4xx other than 429, a
    /// closed dispatcher, a dispatcher that panicked).
    Rejected(DispatchError),
    /// Every allowed attempt failed; the last error.
    Exhausted(DispatchError),
    /// `close()` ran out of time before the batch was delivered.
    CloseTimeout,
}

/// The event processor gave a batch up.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEventFailedNotification {
    /// The batch.
    pub log_event: LogEvent,
    /// Why.
    pub reason: FailureReason,
    /// How many dispatch attempts were made.
    pub attempts: u32,
    /// Whether the batch stays in the spool directory, to be resent by the next
    /// processor started on it.
    pub spooled: bool,
}

/// A new config was installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUpdateNotification {
    /// The new config's revision.
    pub revision: String,
    /// The revision it replaced, if there was a config before.
    pub previous_revision: Option<String>,
}

/// One notification, as a listener added with [`NotificationCenter::add_listener`]
/// receives it.
#[derive(Debug, Clone, Copy)]
pub enum Notification<'a> {
    /// See [`NotificationKind::Decision`].
    Decision(&'a DecisionNotification),
    /// See [`NotificationKind::Activate`].
    Activate(&'a ActivateNotification),
    /// See [`NotificationKind::Track`].
    Track(&'a TrackNotification),
    /// See [`NotificationKind::LogEvent`].
    LogEvent(&'a LogEvent),
    /// See [`NotificationKind::LogEventFailed`].
    LogEventFailed(&'a LogEventFailedNotification),
    /// See [`NotificationKind::ConfigUpdate`].
    ConfigUpdate(&'a ConfigUpdateNotification),
}

impl Notification<'_> {
    /// Its kind.
    pub const fn kind(&self) -> NotificationKind {
        match self {
            Self::Decision(_) => NotificationKind::Decision,
            Self::Activate(_) => NotificationKind::Activate,
            Self::Track(_) => NotificationKind::Track,
            Self::LogEvent(_) => NotificationKind::LogEvent,
            Self::LogEventFailed(_) => NotificationKind::LogEventFailed,
            Self::ConfigUpdate(_) => NotificationKind::ConfigUpdate,
        }
    }
}

/// A payload type of one notification kind; lets [`NotificationCenter::notify_with`]
/// skip building the payload when nobody listens.
pub trait NotificationPayload {
    /// The kind this payload is sent as.
    const KIND: NotificationKind;
    /// The payload as a [`Notification`].
    fn as_notification(&self) -> Notification<'_>;
}

macro_rules! payload {
    ($ty:ty, $variant:ident) => {
        impl NotificationPayload for $ty {
            const KIND: NotificationKind = NotificationKind::$variant;
            fn as_notification(&self) -> Notification<'_> {
                Notification::$variant(self)
            }
        }
    };
}

payload!(DecisionNotification, Decision);
payload!(ActivateNotification, Activate);
payload!(TrackNotification, Track);
payload!(LogEvent, LogEvent);
payload!(LogEventFailedNotification, LogEventFailed);
payload!(ConfigUpdateNotification, ConfigUpdate);

/// Names a listener, to remove it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(u64);

impl fmt::Display for ListenerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "listener {}", self.0)
    }
}

type Callback = Arc<dyn Fn(Notification<'_>) + Send + Sync>;

#[derive(Clone)]
struct Entry {
    id: ListenerId,
    callback: Callback,
}

const KINDS: usize = NotificationKind::ALL.len();

struct Shared {
    /// Per kind, the number of listeners: the one load an emitter pays when there is none.
    counts: [AtomicUsize; KINDS],
    /// Per kind, the listeners in order of addition. Emitters take a snapshot without
    /// locking, so a listener may add or remove listeners while it runs.
    lists: [ArcSwap<Vec<Entry>>; KINDS],
    /// Serialises changes, so two concurrent additions cannot lose one another.
    write: Mutex<()>,
}

/// Ids are unique across centres, so an id from another centre never removes a listener.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Listeners for the SDK's notifications. Clones share one set of listeners; `Send +
/// Sync`. See the [module documentation](self).
#[derive(Clone)]
pub struct NotificationCenter {
    shared: Arc<Shared>,
}

impl Default for NotificationCenter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for NotificationCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for kind in NotificationKind::ALL {
            map.entry(&kind.as_str(), &self.listener_count(kind));
        }
        map.finish()
    }
}

impl NotificationCenter {
    /// A centre with no listener.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared {
                counts: Default::default(),
                lists: std::array::from_fn(|_| ArcSwap::from_pointee(Vec::new())),
                write: Mutex::new(()),
            }),
        }
    }

    /// Adds a listener for `kind`; it receives only notifications of that kind.
    pub fn add_listener(
        &self,
        kind: NotificationKind,
        listener: impl Fn(Notification<'_>) + Send + Sync + 'static,
    ) -> ListenerId {
        let id = ListenerId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let entry = Entry { id, callback: Arc::new(listener) };
        self.change(|lists| {
            let list = &lists[kind.index()];
            let mut next = Vec::clone(&list.load());
            next.push(entry);
            list.store(Arc::new(next));
        });
        id
    }

    /// Adds a listener for decisions.
    pub fn add_decision_listener(
        &self,
        listener: impl Fn(&DecisionNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add_listener(NotificationKind::Decision, move |n| {
            if let Notification::Decision(payload) = n {
                listener(payload);
            }
        })
    }

    /// Adds a listener for impressions.
    pub fn add_activate_listener(
        &self,
        listener: impl Fn(&ActivateNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add_listener(NotificationKind::Activate, move |n| {
            if let Notification::Activate(payload) = n {
                listener(payload);
            }
        })
    }

    /// Adds a listener for conversions.
    pub fn add_track_listener(&self, listener: impl Fn(&TrackNotification) + Send + Sync + 'static) -> ListenerId {
        self.add_listener(NotificationKind::Track, move |n| {
            if let Notification::Track(payload) = n {
                listener(payload);
            }
        })
    }

    /// Adds a listener for batches handed to the dispatcher (once per batch, before the
    /// first attempt; retries do not notify again).
    pub fn add_log_event_listener(&self, listener: impl Fn(&LogEvent) + Send + Sync + 'static) -> ListenerId {
        self.add_listener(NotificationKind::LogEvent, move |n| {
            if let Notification::LogEvent(payload) = n {
                listener(payload);
            }
        })
    }

    /// Adds a listener for batches the event processor gave up.
    pub fn add_log_event_failed_listener(
        &self,
        listener: impl Fn(&LogEventFailedNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add_listener(NotificationKind::LogEventFailed, move |n| {
            if let Notification::LogEventFailed(payload) = n {
                listener(payload);
            }
        })
    }

    /// Adds a listener for config updates.
    pub fn add_config_update_listener(
        &self,
        listener: impl Fn(&ConfigUpdateNotification) + Send + Sync + 'static,
    ) -> ListenerId {
        self.add_listener(NotificationKind::ConfigUpdate, move |n| {
            if let Notification::ConfigUpdate(payload) = n {
                listener(payload);
            }
        })
    }

    /// Removes the listener `id`; false if there is none (already removed, or added to
    /// another centre).
    pub fn remove_listener(&self, id: ListenerId) -> bool {
        let mut removed = false;
        self.change(|lists| {
            for list in lists {
                let current = list.load();
                if current.iter().any(|e| e.id == id) {
                    list.store(Arc::new(current.iter().filter(|e| e.id != id).cloned().collect()));
                    removed = true;
                    break;
                }
            }
        });
        removed
    }

    /// Removes every listener of `kind`.
    pub fn clear(&self, kind: NotificationKind) {
        self.change(|lists| lists[kind.index()].store(Arc::new(Vec::new())));
    }

    /// Removes every listener.
    pub fn clear_all(&self) {
        self.change(|lists| {
            for list in lists {
                list.store(Arc::new(Vec::new()));
            }
        });
    }

    /// Whether any listener listens for `kind`: one atomic load. Check it before
    /// building a payload.
    #[inline]
    pub fn has_listeners(&self, kind: NotificationKind) -> bool {
        self.shared.counts[kind.index()].load(Ordering::Acquire) != 0
    }

    /// How many listeners listen for `kind`.
    pub fn listener_count(&self, kind: NotificationKind) -> usize {
        self.shared.counts[kind.index()].load(Ordering::Acquire)
    }

    /// Builds the payload with `build` and calls the listeners of its kind, only if
    /// there are any.
    #[inline]
    pub fn notify_with<P: NotificationPayload>(&self, build: impl FnOnce() -> P) {
        if self.has_listeners(P::KIND) {
            self.notify(build().as_notification());
        }
    }

    /// Calls every listener of the notification's kind, in order of addition. A
    /// listener that panics is logged and skipped.
    pub fn notify(&self, notification: Notification<'_>) {
        let kind = notification.kind();
        if !self.has_listeners(kind) {
            return;
        }
        let listeners = self.shared.lists[kind.index()].load_full();
        for entry in listeners.iter() {
            let call = catch_unwind(AssertUnwindSafe(|| (entry.callback)(notification)));
            if let Err(panic) = call {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| String::from("(no message)"));
                tracing::error!(
                    kind = kind.as_str(),
                    listener = entry.id.0,
                    panic = %message,
                    "notification listener panicked; the SDK ignores it"
                );
            }
        }
    }

    /// Applies `f` to the lists under the write lock and refreshes the counts.
    fn change(&self, f: impl FnOnce(&[ArcSwap<Vec<Entry>>; KINDS])) {
        // The guard protects no data of its own: a panic elsewhere leaves the lists valid.
        let _guard = self.shared.write.lock().unwrap_or_else(PoisonError::into_inner);
        f(&self.shared.lists);
        for (count, list) in self.shared.counts.iter().zip(&self.shared.lists) {
            count.store(list.load().len(), Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_index_their_arrays() {
        for (i, kind) in NotificationKind::ALL.into_iter().enumerate() {
            assert_eq!(kind.index(), i);
        }
    }

    #[test]
    fn center_is_send_sync_and_cheap_to_clone() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<NotificationCenter>();
    }
}
