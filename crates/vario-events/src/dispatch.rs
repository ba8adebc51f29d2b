//! Handing batches to whatever sends them: the dispatcher interface, its error, and an
//! in-memory dispatcher for tests and `vario eval`.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::log_event::LogEvent;

/// Sends one [`LogEvent`]. Implementations must not panic; the SDK logs errors and drops
/// the batch (events.md §9), and never lets dispatch fail a decision.
pub trait EventDispatcher: Send + Sync {
    /// Sends `event`, blocking until it is accepted or refused.
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError>;
}

/// Why a batch was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DispatchError {
    /// No HTTP answer (connection, timeout, TLS).
    #[error("sending events to {url} failed: {reason}")]
    Transport {
        /// The endpoint.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The endpoint answered with a status outside 2xx.
    #[error("event endpoint {url} answered http status {status}")]
    Status {
        /// The endpoint.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// How long the endpoint asked us to wait (`Retry-After`), if it said.
        retry_after: Option<std::time::Duration>,
    },
    /// The dispatcher no longer accepts events.
    #[error("event dispatcher is closed")]
    Closed,
}

impl DispatchError {
    /// Whether trying again may help: transport failures, 5xx and 429 (too many
    /// requests); never other 4xx, which would fail the same way again.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { status, .. } => *status >= 500 || *status == 429,
            Self::Closed => false,
        }
    }
}

impl<D: EventDispatcher + ?Sized> EventDispatcher for Arc<D> {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        (**self).dispatch(event)
    }
}

impl<D: EventDispatcher + ?Sized> EventDispatcher for Box<D> {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        (**self).dispatch(event)
    }
}

/// Keeps every dispatched event in memory, in order; never fails.
#[derive(Debug, Default)]
pub struct CollectingDispatcher {
    events: Mutex<Vec<LogEvent>>,
}

impl CollectingDispatcher {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events collected so far.
    pub fn events(&self) -> Vec<LogEvent> {
        self.lock().clone()
    }

    /// The events collected so far, leaving none.
    pub fn take(&self) -> Vec<LogEvent> {
        std::mem::take(&mut *self.lock())
    }

    /// How many events were collected.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event was collected.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<LogEvent>> {
        // A panic elsewhere while holding the lock leaves a valid Vec; keep using it.
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl EventDispatcher for CollectingDispatcher {
    fn dispatch(&self, event: &LogEvent) -> Result<(), DispatchError> {
        self.lock().push(event.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy() {
        let url = String::from("https://logx.optimizely.com/v1/events");
        assert!(DispatchError::Transport { url: url.clone(), reason: "reset".into() }.is_retryable());
        assert!(DispatchError::Status { url: url.clone(), status: 503, retry_after: None }.is_retryable());
        assert!(DispatchError::Status { url: url.clone(), status: 429, retry_after: None }.is_retryable());
        assert!(!DispatchError::Status { url: url.clone(), status: 400, retry_after: None }.is_retryable());
        assert!(!DispatchError::Closed.is_retryable());
        assert_eq!(
            DispatchError::Status { url, status: 429, retry_after: None }.to_string(),
            "event endpoint https://logx.optimizely.com/v1/events answered http status 429"
        );
    }

    #[test]
    fn dispatchers_are_object_safe_and_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CollectingDispatcher>();
        let shared: Arc<dyn EventDispatcher> = Arc::new(CollectingDispatcher::new());
        let boxed: Box<dyn EventDispatcher> = Box::new(shared.clone());
        let _ = boxed;
    }
}
