//! The server-wide memory budget of request bodies: every body being read, decoded,
//! parsed or waiting for its commit holds a [`Charge`] on one semaphore of bytes. A body
//! that would go past the budget is refused (503 `overloaded`, `Retry-After`) before
//! more of it is read, so peak memory stays bounded whatever the number of clients.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, Code};

/// Memory one byte of a body costs while it is handled: the raw bytes, the parsed batch
/// (strings, maps), the rows prepared for the log and the commit's share of SQLite's
/// page cache. Measured on maximum-size event batches (`tools/load/overload.py`): about
/// 4 bytes of resident memory per body byte for the request alone, near 8 with the
/// commit and the allocator's slack.
pub const BYTES_PER_BODY_BYTE: usize = 8;

/// The budget; cheap to clone.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    /// A budget of `bytes` bytes.
    pub fn new(bytes: usize) -> Self {
        Self { bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))) }
    }

    /// An empty charge on this budget, to grow as a body is read.
    pub fn charge(&self) -> Charge {
        Charge { budget: Arc::clone(&self.bytes), held: None }
    }

    /// Bytes of the budget not charged now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

/// What one request holds of the budget; given back when dropped.
#[derive(Debug)]
pub struct Charge {
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
}

impl Charge {
    /// Takes the cost of `body_bytes` more bytes of body, or refuses without waiting.
    pub fn add(&mut self, body_bytes: usize) -> Result<(), ApiError> {
        let cost = body_bytes.saturating_mul(BYTES_PER_BODY_BYTE);
        if cost == 0 {
            return Ok(());
        }
        let permit = u32::try_from(cost)
            .ok()
            .and_then(|n| Arc::clone(&self.budget).try_acquire_many_owned(n).ok())
            .ok_or_else(overloaded)?;
        match &mut self.held {
            Some(held) => held.merge(permit),
            None => self.held = Some(permit),
        }
        Ok(())
    }

    /// Bytes of the budget this charge holds.
    pub fn held(&self) -> usize {
        self.held.as_ref().map_or(0, OwnedSemaphorePermit::num_permits)
    }
}

fn overloaded() -> ApiError {
    ApiError::new(
        Code::Overloaded,
        "the server holds as many request bodies in memory as its budget allows; retry shortly",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_past_the_budget_are_refused_and_dropping_gives_them_back() {
        let budget = BodyBudget::new(100 * BYTES_PER_BODY_BYTE);
        let mut first = budget.charge();
        first.add(60).unwrap();
        let mut second = budget.charge();
        assert_eq!(second.add(50).unwrap_err().code, Code::Overloaded);
        second.add(40).unwrap();
        assert_eq!(budget.available(), 0);
        drop(first);
        assert_eq!(budget.available(), 60 * BYTES_PER_BODY_BYTE);
        assert_eq!(second.held(), 40 * BYTES_PER_BODY_BYTE);
    }
}
