//! Time as the store sees it. Injectable, so retention and wipe schedules can be tested without
//! waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub const MS_PER_DAY: u64 = 86_400_000;

pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock the test moves by hand.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    pub fn new(now_ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(now_ms)))
    }
    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// The UTC day number (days since the Unix epoch) of a time; day keys and tables are per UTC day.
pub fn day_of(ms: u64) -> u32 {
    // Saturates rather than wrapping, so a far-future time never maps to an early day.
    u32::try_from(ms / MS_PER_DAY).unwrap_or(u32::MAX)
}

/// The latest time any request may name: 9999-12-31T23:59:59.999Z. Later ones are refused as
/// bad input rather than overflowing day arithmetic.
pub const MAX_TIME_MS: u64 = 253_402_300_799_999;

pub fn shared(clock: impl Clock + 'static) -> Arc<dyn Clock> {
    Arc::new(clock)
}
