//! Where the dispatcher's calls are made. With a spool, on a thread of their own, so
//! that the worker is never held by one: while a request hangs, `close` can still have
//! everything else spooled. Without a spool there is nothing to keep, and the calls are
//! made on the worker (a hand-off between threads per batch costs more than a fast
//! endpoint's answer).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use vario_events::{DispatchError, EventDispatcher, LogEvent};

/// Reason of the error standing for a dispatcher that panicked.
pub(super) const PANICKED: &str = "the event dispatcher panicked";

/// One attempt's batch, handed back with its answer.
pub(super) type Answer = (LogEvent, Result<(), DispatchError>);

pub(super) enum Sender {
    /// Calls made by the caller.
    Inline(Arc<dyn EventDispatcher>),
    /// Calls made by a thread that ends when this is dropped.
    Thread { jobs: crossbeam_channel::Sender<LogEvent>, answers: Receiver<Answer> },
}

/// One attempt; a panicking dispatcher counts as a failure that is not retried.
pub(super) fn attempt(dispatcher: &dyn EventDispatcher, log_event: &LogEvent) -> Result<(), DispatchError> {
    catch_unwind(AssertUnwindSafe(|| dispatcher.dispatch(log_event))).unwrap_or_else(|_| {
        Err(DispatchError::Transport { url: log_event.url.to_string(), reason: String::from(PANICKED) })
    })
}

impl Sender {
    pub(super) fn start(dispatcher: Arc<dyn EventDispatcher>, own_thread: bool) -> std::io::Result<Self> {
        if !own_thread {
            return Ok(Self::Inline(dispatcher));
        }
        let (jobs, jobs_rx) = crossbeam_channel::bounded::<LogEvent>(1);
        let (answers_tx, answers) = crossbeam_channel::bounded(1);
        std::thread::Builder::new().name(String::from("vario-events-send")).spawn(move || {
            for log_event in jobs_rx {
                let answer = attempt(dispatcher.as_ref(), &log_event);
                if answers_tx.send((log_event, answer)).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self::Thread { jobs, answers })
    }
}
