//! The batcher all cameras share: it releases a batch when it is full or when its oldest crop has
//! waited long enough, and it is bounded: when OCR falls behind, the oldest crops are dropped and
//! counted rather than queued without limit. Time is passed in, so tests drive it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchPolicy {
    /// A batch runs as soon as this many crops wait.
    pub max_batch: usize,
    /// …or when the oldest crop has waited this long.
    pub deadline: Duration,
    /// At most this many crops wait; beyond it the oldest are dropped.
    pub capacity: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self {
            max_batch: 32,
            deadline: Duration::from_millis(10),
            capacity: 256,
        }
    }
}

#[derive(Debug)]
pub struct Batcher<T> {
    policy: BatchPolicy,
    queue: VecDeque<(Instant, T)>,
    dropped: u64,
}

impl<T> Batcher<T> {
    pub fn new(policy: BatchPolicy) -> Self {
        let policy = BatchPolicy {
            max_batch: policy.max_batch.max(1),
            capacity: policy.capacity.max(policy.max_batch.max(1)),
            ..policy
        };
        Self {
            policy,
            queue: VecDeque::with_capacity(policy.capacity),
            dropped: 0,
        }
    }

    /// Queues a crop that arrived at `now`, dropping the oldest if the queue is full.
    pub fn push(&mut self, now: Instant, item: T) {
        if self.queue.len() >= self.policy.capacity {
            self.queue.pop_front();
            self.dropped += 1;
        }
        self.queue.push_back((now, item));
    }

    /// A batch, if one is due at `now`: the oldest `max_batch` crops.
    pub fn take_ready(&mut self, now: Instant) -> Option<Vec<T>> {
        let due = self.queue.len() >= self.policy.max_batch
            || self.next_deadline().is_some_and(|deadline| now >= deadline);
        due.then(|| {
            let n = self.queue.len().min(self.policy.max_batch);
            self.queue.drain(..n).map(|(_, item)| item).collect()
        })
    }

    /// When the oldest waiting crop's deadline passes (to sleep until then).
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue
            .front()
            .map(|(arrived, _)| *arrived + self.policy.deadline)
    }

    /// Everything still waiting, e.g. at shutdown.
    pub fn drain(&mut self) -> Vec<T> {
        self.queue.drain(..).map(|(_, item)| item).collect()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Crops dropped because OCR fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BatchPolicy {
        BatchPolicy {
            max_batch: 4,
            deadline: Duration::from_millis(10),
            capacity: 8,
        }
    }

    #[test]
    fn flushes_when_full() {
        let t0 = Instant::now();
        let mut b = Batcher::new(policy());
        for i in 0..3 {
            b.push(t0, i);
        }
        assert_eq!(b.take_ready(t0), None);
        b.push(t0, 3);
        b.push(t0, 4);
        assert_eq!(b.take_ready(t0), Some(vec![0, 1, 2, 3]));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn flushes_on_deadline_of_the_oldest_crop() {
        let t0 = Instant::now();
        let mut b = Batcher::new(policy());
        b.push(t0, 'a');
        b.push(t0 + Duration::from_millis(8), 'b');
        assert_eq!(b.next_deadline(), Some(t0 + Duration::from_millis(10)));
        assert_eq!(b.take_ready(t0 + Duration::from_millis(9)), None);
        assert_eq!(
            b.take_ready(t0 + Duration::from_millis(10)),
            Some(vec!['a', 'b'])
        );
        assert_eq!(b.next_deadline(), None);
        assert_eq!(b.take_ready(t0 + Duration::from_secs(1)), None);
    }

    #[test]
    fn drops_oldest_when_ocr_falls_behind() {
        let t0 = Instant::now();
        let mut b = Batcher::new(policy());
        for i in 0..11 {
            b.push(t0, i);
        }
        assert_eq!(b.dropped(), 3);
        assert_eq!(b.len(), 8);
        assert_eq!(b.take_ready(t0), Some(vec![3, 4, 5, 6]));
        assert_eq!(b.drain(), vec![7, 8, 9, 10]);
    }
}
