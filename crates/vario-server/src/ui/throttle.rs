//! Sign-in attempts per client address: a token bucket each, refilled at the configured
//! rate, one token taken per wrong token given. Refused and failed attempts are logged
//! at WARN once per minute, with counts, never once per attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Addresses tracked at once; past it the longest-quiet one is forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// How often the counts are logged.
const LOG_WINDOW: Duration = Duration::from_secs(60);

/// The buckets.
#[derive(Debug)]
pub(crate) struct SignInThrottle {
    per_minute: f64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<IpAddr, Bucket>,
    logged: Option<Instant>,
    failed: u64,
    refused: u64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl SignInThrottle {
    /// `per_minute` wrong attempts per address and minute, as a burst too.
    pub(crate) fn new(per_minute: u32) -> Self {
        Self { per_minute: f64::from(per_minute.max(1)), state: Mutex::default() }
    }

    /// Whether `address` may try now; a refusal is counted for the log.
    pub(crate) fn allow(&self, address: IpAddr) -> bool {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens = state.buckets.get(&address).map_or(self.per_minute, |b| self.refilled(b, now));
        if tokens >= 1.0 {
            return true;
        }
        state.refused += 1;
        state.log(now);
        false
    }

    /// Takes a token from `address` for a wrong token given.
    pub(crate) fn failed(&self, address: IpAddr) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let tokens = state.buckets.get(&address).map_or(self.per_minute, |b| self.refilled(b, now));
        if !state.buckets.contains_key(&address) && state.buckets.len() >= MAX_ADDRESSES {
            let per_minute = self.per_minute;
            state.buckets.retain(|_, b| b.tokens + b.at.elapsed().as_secs_f64() * per_minute / 60.0 < per_minute);
            if state.buckets.len() >= MAX_ADDRESSES
                && let Some(quietest) = state.buckets.iter().min_by_key(|(_, b)| b.at).map(|(a, _)| *a)
            {
                state.buckets.remove(&quietest);
            }
        }
        state.buckets.insert(address, Bucket { tokens: (tokens - 1.0).max(0.0), at: now });
        state.failed += 1;
        state.log(now);
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_minute / 60.0;
        (bucket.tokens + refill).min(self.per_minute)
    }
}

impl State {
    fn log(&mut self, now: Instant) {
        if self.logged.is_some_and(|at| now.duration_since(at) < LOG_WINDOW) {
            return;
        }
        tracing::warn!(
            wrong_tokens = self.failed,
            refused = self.refused,
            addresses = self.buckets.len(),
            "page sign-in: wrong admin tokens given (counts since the last such line, at most one a minute)"
        );
        self.logged = Some(now);
        self.failed = 0;
        self.refused = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_burst_and_others_are_not() {
        let throttle = SignInThrottle::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.allow(a));
            throttle.failed(a);
        }
        assert!(!throttle.allow(a));
        assert!(throttle.allow(b));
    }
}
