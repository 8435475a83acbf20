//! A batch of passes becomes stored reads (with their crops as JPEG), hits and published
//! alerts.

use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use custos_live::{AlertEvent, Hub};
use custos_store::{AgencyStore, NewRead, PlateCandidate, Read};
use custos_track::MatchKind;

use super::hotlists::{EntryRef, Hotlists};
use super::{WriterConfig, WriterStats};
use crate::{Pass, PlateCrop};

fn ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn jpeg(crop: &PlateCrop, quality: u8) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality);
    image::ImageEncoder::write_image(
        enc,
        &crop.pixels,
        crop.width,
        crop.height,
        image::ExtendedColorType::L8,
    )
    .ok()?;
    Some(out)
}

pub(super) fn write_batch(
    batch: &mut Vec<(Pass, Instant)>,
    store: &AgencyStore,
    hub: &Hub,
    cfg: &WriterConfig,
    stats: &WriterStats,
    hotlists: &Hotlists,
) {
    if batch.is_empty() {
        return;
    }
    let matched: Vec<Vec<(EntryRef, MatchKind)>> =
        batch.iter().map(|(p, _)| hotlists.matches(p)).collect();
    let reads: Vec<NewRead> = batch
        .iter()
        .zip(&matched)
        .map(|((p, _), m)| {
            let crop_jpeg = cfg.crop_quality.and_then(|q| {
                let j = jpeg(&p.best_crop, q);
                if j.is_none() {
                    stats.crop_errors.fetch_add(1, Ordering::Relaxed);
                }
                j
            });
            let q = p.best_quad;
            NewRead {
                camera: p.camera.clone(),
                // The crop's frame: the stored crop, box and time describe the same moment.
                captured_at_ms: ms(p.best_crop_at),
                plate: p.text.clone(),
                confidence: p.confidence,
                char_confidences: p.char_confidences.clone(),
                candidates: p
                    .candidates
                    .iter()
                    .map(|c| PlateCandidate {
                        text: c.text.clone(),
                        score: c.score,
                    })
                    .collect(),
                plate_box: [
                    q[0][0], q[0][1], q[1][0], q[1][1], q[2][0], q[2][1], q[3][0], q[3][1],
                ],
                crop_jpeg,
                context_jpeg: None,
                track_id: p.track_id,
                hit_flags: if m.is_empty() { 0 } else { custos_store::HIT },
            }
        })
        .collect();
    let ids = match store.ingest(&reads) {
        Ok(ids) => ids,
        Err(e) => {
            stats.store_errors.fetch_add(1, Ordering::Relaxed);
            stats
                .reads_lost
                .fetch_add(reads.len() as u64, Ordering::Relaxed);
            tracing::error!(error = %e, reads = reads.len(), "cannot store a batch of reads");
            batch.clear();
            return;
        }
    };
    stats.commits.fetch_add(1, Ordering::Relaxed);
    stats
        .reads_stored
        .fetch_add(ids.len() as u64, Ordering::Relaxed);
    let agency = store.agency().to_owned();
    for ((((_, arrived), new), id), hits) in batch.iter().zip(reads).zip(ids).zip(matched) {
        let read = new.into_read(id);
        for (entry, kind) in hits {
            record_and_alert(store, hub, stats, &read, &entry, &kind, false);
        }
        hub.publish_read(&agency, read);
        let us = u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX);
        stats
            .publish_latency_us_sum
            .fetch_add(us, Ordering::Relaxed);
        stats
            .publish_latency_us_max
            .fetch_max(us, Ordering::Relaxed);
    }
    batch.clear();
}

/// Records a hit of `read` on `entry` and publishes its alert. The alert goes out even when
/// recording fails: a control room must hear of it even if the disk is failing.
pub(super) fn record_and_alert(
    store: &AgencyStore,
    hub: &Hub,
    stats: &WriterStats,
    read: &Read,
    entry: &EntryRef,
    kind: &MatchKind,
    retroactive: bool,
) {
    let hit = custos_store::records::Hit {
        read_id: read.id,
        hotlist_id: entry.hotlist_id,
        entry_id: entry.entry_id,
        plate: read.plate.clone(),
        camera: read.camera.clone(),
        captured_at_ms: read.captured_at_ms,
    };
    if let Err(e) = store.record_hit(&hit) {
        stats.hit_errors.fetch_add(1, Ordering::Relaxed);
        tracing::error!(error = %e, read = read.id.0, "cannot record a hotlist hit");
    }
    stats.hits.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        read = read.id.0,
        hotlist = entry.hotlist_id,
        entry = entry.entry_id,
        kind = kind_name(kind),
        retroactive,
        "hotlist hit"
    );
    hub.publish_alert(AlertEvent {
        agency: store.agency().to_owned(),
        read_id: read.id.0,
        hotlist_id: entry.hotlist_id,
        hotlist_name: entry.hotlist_name.clone(),
        entry_id: entry.entry_id,
        plate: read.plate.clone(),
        camera: read.camera.clone(),
        captured_at_ms: read.captured_at_ms,
        covert: entry.covert,
        match_kind: kind_name(kind).into(),
        retroactive,
    });
}

/// The match kind as logs and metrics name it.
pub fn kind_name(kind: &MatchKind) -> &'static str {
    match kind {
        MatchKind::Exact => "exact",
        MatchKind::Confusable { .. } => "confusable",
        MatchKind::EditDistance { .. } => "edit_distance",
    }
}
