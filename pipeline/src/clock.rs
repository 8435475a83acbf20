//! Time for the reconnect logic, injectable so that tests can drive backoff and stall detection
//! without waiting for real seconds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Monotonic time (not wall time: the store's `Clock` is that), injectable for tests.
pub trait MonotonicTime: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealMonotonic;

impl MonotonicTime for RealMonotonic {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to: for tests.
#[derive(Debug)]
pub struct ManualMonotonic {
    start: Instant,
    elapsed: Mutex<Duration>,
}

impl Default for ManualMonotonic {
    fn default() -> Self {
        Self {
            start: Instant::now(),
            elapsed: Mutex::new(Duration::ZERO),
        }
    }
}

impl ManualMonotonic {
    pub fn advance(&self, by: Duration) {
        *self.elapsed.lock().unwrap_or_else(|e| e.into_inner()) += by;
    }
}

impl MonotonicTime for ManualMonotonic {
    fn now(&self) -> Instant {
        self.start + *self.elapsed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Exponential reconnect delay with jitter, so that dozens of cameras behind one failed switch
/// do not all reconnect in the same instant.
#[derive(Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    failures: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Self {
            initial,
            max: max.max(initial),
            failures: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The delay before the next attempt: `initial · 2^failures` capped at `max`, then scaled by a
    /// random factor in [0.5, 1.0].
    pub fn next_delay(&mut self) -> Duration {
        let exp = self.initial.saturating_mul(1u32 << self.failures.min(20));
        self.failures = self.failures.saturating_add(1);
        exp.min(self.max).mul_f64(0.5 + 0.5 * self.rng.f64())
    }

    /// A connection worked: start again from the initial delay.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Detects a camera that stopped delivering frames (a frozen server posts no error at all).
#[derive(Debug)]
pub struct StallWatchdog {
    timeout: Duration,
    last_progress: Instant,
}

impl StallWatchdog {
    pub fn new(timeout: Duration, now: Instant) -> Self {
        Self {
            timeout,
            last_progress: now,
        }
    }

    pub fn progress(&mut self, now: Instant) {
        self.last_progress = now;
    }

    /// How long without progress, if that is longer than the timeout.
    pub fn stalled_for(&self, now: Instant) -> Option<Duration> {
        let idle = now.saturating_duration_since(self.last_progress);
        (idle >= self.timeout).then_some(idle)
    }
}

/// Chooses which decoded frames go to analysis so that their rate is at most `fps`, by stream
/// time: frames arriving in a burst after a stall are not all analysed.
#[derive(Debug)]
pub struct RateLimiter {
    period: Duration,
    next_due: Option<Duration>,
}

impl RateLimiter {
    pub fn new(fps: f64) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / fps),
            next_due: None,
        }
    }

    /// Whether the frame at stream time `t` is analysed.
    pub fn admit(&mut self, t: Duration) -> bool {
        // A tenth of a period of slack absorbs timestamp jitter, so 15 fps at 7.5 fps analysis
        // keeps exactly every second frame.
        let slack = self.period / 10;
        match self.next_due {
            // Not yet due, unless time went backwards (a new stream): then restart below.
            Some(due) if t + slack < due && t + self.period >= due => false,
            Some(due) if t + slack >= due && t < due + self.period => {
                self.next_due = Some(due + self.period);
                true
            }
            // First frame, a gap, or time went backwards: restart the schedule.
            _ => {
                self.next_due = Some(t + self.period);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(30), 7);
        let delays: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let nominal = Duration::from_millis(500 * (1 << i)).min(Duration::from_secs(30));
            assert!(
                *d >= nominal / 2 && *d <= nominal,
                "attempt {i}: {d:?} vs {nominal:?}"
            );
        }
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(30)));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }

    #[test]
    fn jitter_differs_between_cameras() {
        let a: Vec<_> = {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 1);
            (0..5).map(|_| b.next_delay()).collect()
        };
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 2);
        let c: Vec<_> = (0..5).map(|_| b.next_delay()).collect();
        assert_ne!(a, c);
    }

    #[test]
    fn watchdog_fires_only_after_timeout_on_simulated_clock() {
        let clock = ManualMonotonic::default();
        let mut w = StallWatchdog::new(Duration::from_secs(5), clock.now());
        clock.advance(Duration::from_millis(4_900));
        assert_eq!(w.stalled_for(clock.now()), None);
        w.progress(clock.now());
        clock.advance(Duration::from_secs(4));
        assert_eq!(w.stalled_for(clock.now()), None);
        clock.advance(Duration::from_secs(2));
        assert_eq!(w.stalled_for(clock.now()), Some(Duration::from_secs(6)));
    }

    #[test]
    fn rate_limiter_keeps_requested_rate() {
        let mut r = RateLimiter::new(8.0);
        // 15 fps for 10 s.
        let kept = (0..150)
            .filter(|i| r.admit(Duration::from_secs_f64(*i as f64 / 15.0)))
            .count();
        assert!((75..=81).contains(&kept), "kept {kept}");

        // Analysis faster than the stream keeps everything.
        let mut r = RateLimiter::new(30.0);
        assert!((0..30).all(|i| r.admit(Duration::from_secs_f64(i as f64 / 15.0))));

        // A new stream starting at 0 again is not starved.
        let mut r = RateLimiter::new(8.0);
        assert!(r.admit(Duration::from_secs(100)));
        assert!(r.admit(Duration::ZERO));
    }
}
