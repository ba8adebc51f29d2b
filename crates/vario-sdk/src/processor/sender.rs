//! The thread that makes the dispatcher's calls, so that the worker is never held by
//! one: while a request hangs, `close` can still have everything else spooled.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use crossbeam_channel::Receiver;
use vario_events::{DispatchError, EventDispatcher, LogEvent};

/// Reason of the error standing for a dispatcher that panicked.
pub(super) const PANICKED: &str = "the event dispatcher panicked";

/// One attempt's batch, handed back with its answer.
pub(super) type Answer = (LogEvent, Result<(), DispatchError>);

/// The handle of the dispatch thread; it ends when the handle is dropped.
pub(super) struct Sender {
    jobs: crossbeam_channel::Sender<LogEvent>,
    pub(super) answers: Receiver<Answer>,
}

impl Sender {
    pub(super) fn start(dispatcher: Arc<dyn EventDispatcher>) -> std::io::Result<Self> {
        let (jobs, jobs_rx) = crossbeam_channel::bounded::<LogEvent>(1);
        let (answers_tx, answers) = crossbeam_channel::bounded(1);
        std::thread::Builder::new().name(String::from("vario-events-send")).spawn(move || {
            for log_event in jobs_rx {
                // A panicking dispatcher counts as a failure that is not retried.
                let answer = catch_unwind(AssertUnwindSafe(|| dispatcher.dispatch(&log_event))).unwrap_or_else(|_| {
                    Err(DispatchError::Transport { url: log_event.url.to_string(), reason: String::from(PANICKED) })
                });
                if answers_tx.send((log_event, answer)).is_err() {
                    break;
                }
            }
        })?;
        Ok(Self { jobs, answers })
    }

    /// Hands a batch to the thread; the answer comes on `answers`. Gives the batch back
    /// if the thread is gone.
    pub(super) fn send(&self, log_event: LogEvent) -> Result<(), Box<LogEvent>> {
        self.jobs.send(log_event).map_err(|e| Box::new(e.into_inner()))
    }
}
