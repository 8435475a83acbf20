//! Recycled `f32` buffers for the detector's layers. Each frame needs buffers of the same few
//! sizes again; fresh allocations that large come from the kernel as new pages, one page fault
//! per 4 KiB every frame (an eighth of the native backend's time before this existed).

use std::cell::RefCell;

/// Buffers kept per thread: a layer holds at most three (input, padded input, output).
const KEEP: usize = 4;

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// `len` zeros, in a recycled buffer when one is large enough.
pub fn zeroed(len: usize) -> Vec<f32> {
    let reused = FREE.with(|free| {
        let mut free = free.borrow_mut();
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= len)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        best.map(|i| free.swap_remove(i))
    });
    match reused {
        Some(mut v) => {
            v.clear();
            v.resize(len, 0.0);
            v
        }
        None => vec![0.0; len],
    }
}

/// Gives a buffer back for `zeroed` to hand out again; the smallest are dropped past `KEEP`.
pub fn recycle(v: Vec<f32>) {
    FREE.with(|free| {
        let mut free = free.borrow_mut();
        free.push(v);
        if free.len() > KEEP {
            free.sort_by_key(|v| std::cmp::Reverse(v.capacity()));
            free.truncate(KEEP);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recycled_buffer_comes_back_zeroed_and_the_pool_stays_bounded() {
        let mut v = zeroed(1000);
        v.iter_mut().for_each(|x| *x = 7.0);
        let ptr = v.as_ptr();
        recycle(v);
        let again = zeroed(500);
        assert_eq!(again.as_ptr(), ptr, "the buffer was not reused");
        assert!(again.len() == 500 && again.iter().all(|&x| x == 0.0));
        for n in 0..10 {
            recycle(vec![1.0; n + 1]);
        }
        FREE.with(|f| assert_eq!(f.borrow().len(), KEEP));
        // The largest are the ones kept.
        FREE.with(|f| assert!(f.borrow().iter().all(|v| v.capacity() >= 7)));
    }
}
