//! Retroactive search: an entry added to a hotlist is looked for in the reads already stored.

use std::sync::atomic::Ordering;

use custos_live::Hub;
use custos_store::AgencyStore;
use custos_track::{Matcher, WatchedPlate};

use super::hotlists::EntryRef;
use super::record::record_and_alert;
use super::{WriterConfig, WriterStats};

/// Entries added to a hotlist are searched for in the retained reads: each search is audited
/// (principal "system", reason "hotlist retroactive search"; the addition itself is audited
/// under the principal who made it), and each read it matches, by the same rules as live
/// matching, becomes a hit and an alert (its `captured_at_ms` shows it is from the past).
/// Reads stored from now on are matched live, so nothing is reported twice.
pub(super) fn retroactive(
    added: &[(EntryRef, WatchedPlate)],
    store: &AgencyStore,
    hub: &Hub,
    cfg: &WriterConfig,
    stats: &WriterStats,
) {
    let access = custos_store::Access::system("hotlist retroactive search");
    // The store's fuzzy search finds every candidate the matcher could accept (confusable
    // substitutions are substitutions); the matcher then decides, as for a live read.
    let edits = cfg
        .matching
        .max_confusable
        .max(cfg.matching.max_substitutions)
        .saturating_add(usize::from(cfg.matching.allow_indel))
        .min(2);
    let now = store.now_ms();
    for (entry, m) in added {
        let query = if edits == 0 {
            custos_store::PlateQuery::Exact {
                plate: m.plate.clone(),
            }
        } else {
            custos_store::PlateQuery::Fuzzy {
                plate: m.plate.clone(),
                max_edits: edits as u8,
            }
        };
        let search = custos_store::Search {
            query,
            from_ms: 0,
            to_ms: now,
            limit: RETRO_LIMIT,
        };
        let found = match store.search(&access, &search) {
            Ok(r) => r,
            Err(e) => {
                stats.hotlist_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, entry = entry.entry_id, "retroactive search failed");
                continue;
            }
        };
        let Ok(one) = Matcher::new(vec![m.clone()], cfg.matching.clone()) else {
            continue;
        };
        let mut hits = 0u64;
        for read in found.reads {
            let texts = std::iter::once(read.plate.as_str())
                .chain(read.candidates.iter().map(|c| c.text.as_str()));
            let Some(kind) = one.match_texts(texts).into_iter().next().map(|h| h.kind) else {
                continue;
            };
            record_and_alert(store, hub, stats, &read, entry, &kind, true);
            hits += 1;
        }
        stats.retro_hits.fetch_add(hits, Ordering::Relaxed);
        tracing::info!(
            entry = entry.entry_id,
            hits,
            truncated = found.truncated,
            "retroactive search"
        );
    }
}

/// Most reads one retroactive search returns (the newest first is not guaranteed: a plate
/// seen more often than this is reported in part, and the log says so).
const RETRO_LIMIT: usize = 1000;
