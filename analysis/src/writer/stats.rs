//! The writer's counters and their Prometheus text.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::prometheus;

/// Counters, shared with `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    pub reads_stored: AtomicU64,
    pub commits: AtomicU64,
    pub store_errors: AtomicU64,
    pub reads_lost: AtomicU64,
    pub hits: AtomicU64,
    pub hit_errors: AtomicU64,
    pub hotlist_entries: AtomicU64,
    pub hotlist_errors: AtomicU64,
    pub crop_errors: AtomicU64,
    /// Hits found by retroactive searches (also in `hits`).
    pub retro_hits: AtomicU64,
    /// Pass handed over → read and alerts published, summed over reads (for the mean).
    pub publish_latency_us_sum: AtomicU64,
    pub publish_latency_us_max: AtomicU64,
}

impl WriterStats {
    /// Prometheus text (0.0.4) for these counters.
    pub fn render(&self, agency: &str) -> String {
        let l = prometheus::labels(&[("agency", agency)]);
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, v: &AtomicU64| {
            let value = v.load(Ordering::Relaxed).to_string();
            prometheus::family(&mut out, name, kind, help, &[(l.clone(), value)]);
        };
        one(
            "custos_store_reads_total",
            "counter",
            "Reads stored.",
            &self.reads_stored,
        );
        one(
            "custos_store_commits_total",
            "counter",
            "Store commits of read batches.",
            &self.commits,
        );
        one(
            "custos_store_errors_total",
            "counter",
            "Read batches the store refused (their reads are lost).",
            &self.store_errors,
        );
        one(
            "custos_store_reads_lost_total",
            "counter",
            "Reads lost to store errors.",
            &self.reads_lost,
        );
        one(
            "custos_hotlist_hits_total",
            "counter",
            "Hotlist hits recorded and alerted.",
            &self.hits,
        );
        one(
            "custos_hotlist_hit_errors_total",
            "counter",
            "Hits the store could not record (still alerted).",
            &self.hit_errors,
        );
        one(
            "custos_hotlist_retroactive_hits_total",
            "counter",
            "Hits found in retained reads when an entry was added (also in custos_hotlist_hits_total).",
            &self.retro_hits,
        );
        one(
            "custos_hotlist_entries",
            "gauge",
            "Hotlist entries the matcher holds.",
            &self.hotlist_entries,
        );
        one(
            "custos_hotlist_refresh_errors_total",
            "counter",
            "Failed hotlist refreshes (the previous matcher stays).",
            &self.hotlist_errors,
        );
        one(
            "custos_crop_encode_errors_total",
            "counter",
            "Crops that could not be encoded (the read is stored without one).",
            &self.crop_errors,
        );
        one(
            "custos_publish_latency_max_microseconds",
            "gauge",
            "Longest time from a pass reaching the writer to its read and alerts being published.",
            &self.publish_latency_us_max,
        );
        one(
            "custos_publish_latency_sum_microseconds",
            "counter",
            "Sum of those times over the reads stored (divide by custos_store_reads_total).",
            &self.publish_latency_us_sum,
        );
        out
    }
}
