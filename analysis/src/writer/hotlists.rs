//! The hotlist cache: the matcher built from the store's hotlists, rebuilt when their entries
//! change, and the watermark of the retroactive searches.

use std::sync::atomic::Ordering;
use std::time::Instant;

use custos_store::AgencyStore;
use custos_store::records::{HotlistEntry as StoredEntry, HotlistWithEntries};
use custos_track::{MatchKind, Matcher, WatchedPlate};

use super::{WriterConfig, WriterStats};
use crate::Pass;

/// What a matcher entry stands for in the store.
#[derive(Clone, Debug)]
pub(super) struct EntryRef {
    pub(super) hotlist_id: u64,
    pub(super) hotlist_name: String,
    pub(super) entry_id: u64,
    pub(super) covert: bool,
}

/// The matcher built from the store's hotlists, rebuilt when their entries change.
pub(super) struct Hotlists {
    matcher: Option<Matcher>,
    refs: Vec<EntryRef>,
    /// (entry id, expiry) of what the matcher was built from: a cheap change check.
    built_from: Vec<(u64, Option<u64>)>,
    /// None until the first refresh.
    pub(super) checked: Option<Instant>,
    /// Entries up to this id have had their retroactive search (kept in the store, so entries
    /// added while serve was down are searched at the next start). None until first read.
    searched_through: Option<u64>,
}

impl Hotlists {
    pub(super) fn new() -> Self {
        Self {
            matcher: None,
            refs: Vec::new(),
            built_from: Vec::new(),
            checked: None,
            searched_through: None,
        }
    }

    /// Re-reads the hotlists; rebuilds the matcher if their entries changed. Returns the live
    /// entries not yet searched for retroactively (see [`Hotlists::searched`]): those added
    /// since the previous build, and at the first build those added while serve was down.
    pub(super) fn refresh(
        &mut self,
        store: &AgencyStore,
        cfg: &WriterConfig,
        stats: &WriterStats,
    ) -> Vec<(EntryRef, WatchedPlate)> {
        self.checked = Some(Instant::now());
        let lists = match store.hotlists() {
            Ok(l) => l,
            Err(e) => {
                stats.hotlist_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot read the hotlists; keeping the previous ones");
                return Vec::new();
            }
        };
        let now = store.now_ms();
        let live = |e: &StoredEntry| e.expires_at_ms.is_none_or(|t| t > now);
        let mut ids: Vec<(u64, Option<u64>)> = lists
            .iter()
            .flat_map(|(_, _, es)| es.iter().filter(|(_, e)| live(e)))
            .map(|(id, e)| (*id, e.expires_at_ms))
            .collect();
        ids.sort_unstable();
        if ids == self.built_from && self.matcher.is_some() {
            return Vec::new();
        }
        let mut entries = Vec::with_capacity(ids.len());
        let mut refs = Vec::with_capacity(ids.len());
        for (list_id, list, es) in &lists {
            for (entry_id, e) in es.iter().filter(|(_, e)| live(e)) {
                let covert = list.covert || e.covert;
                match WatchedPlate::new(&e.plate, &list.name, covert, e.note.clone()) {
                    Ok(m) => {
                        entries.push(m);
                        refs.push(EntryRef {
                            hotlist_id: *list_id,
                            hotlist_name: list.name.clone(),
                            entry_id: *entry_id,
                            covert,
                        });
                    }
                    // The gRPC side normalises plates; an entry the matcher refuses (e.g. an
                    // empty plate) cannot match anything anyway.
                    Err(e) => {
                        tracing::warn!(entry = *entry_id, error = %e, "hotlist entry skipped")
                    }
                }
            }
        }
        let through = self.searched_through(store, &lists);
        let added: Vec<(EntryRef, WatchedPlate)> = refs
            .iter()
            .zip(&entries)
            .filter(|(r, _)| r.entry_id > through)
            .map(|(r, e)| (r.clone(), e.clone()))
            .collect();
        match Matcher::new(entries, cfg.matching.clone()) {
            Ok(m) => {
                stats
                    .hotlist_entries
                    .store(refs.len() as u64, Ordering::Relaxed);
                tracing::info!(entries = refs.len(), "hotlist matcher rebuilt");
                self.matcher = Some(m);
                self.refs = refs;
                self.built_from = ids;
                added
            }
            Err(e) => {
                stats.hotlist_errors.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "cannot build the hotlist matcher");
                Vec::new()
            }
        }
    }

    /// The retroactive-search watermark. A store that has none yet (new, or from before the
    /// watermark existed) starts it at its newest entry: those were searched when added, or
    /// predate every read.
    fn searched_through(&mut self, store: &AgencyStore, lists: &[HotlistWithEntries]) -> u64 {
        if let Some(w) = self.searched_through {
            return w;
        }
        let w = match store.retro_searched_through() {
            Ok(Some(w)) => w,
            Ok(None) => {
                let newest = lists
                    .iter()
                    .flat_map(|(_, _, es)| es.iter().map(|(id, _)| *id))
                    .max()
                    .unwrap_or(0);
                self.searched(store, newest);
                newest
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the retroactive-search watermark");
                return u64::MAX;
            }
        };
        self.searched_through = Some(w);
        w
    }

    /// Records that the retroactive searches of entries up to `entry_id` are done.
    pub(super) fn searched(&mut self, store: &AgencyStore, entry_id: u64) {
        if self.searched_through.is_some_and(|w| w >= entry_id) {
            return;
        }
        self.searched_through = Some(entry_id);
        if let Err(e) = store.set_retro_searched_through(entry_id) {
            tracing::warn!(error = %e, "cannot store the retroactive-search watermark");
        }
    }

    /// The entries a pass matches (its chosen text first, then its other candidates), one
    /// per entry, with the kind of match.
    pub(super) fn matches(&self, pass: &Pass) -> Vec<(EntryRef, MatchKind)> {
        let Some(m) = &self.matcher else {
            return Vec::new();
        };
        let texts = std::iter::once(pass.text.as_str())
            .chain(pass.candidates.iter().map(|c| c.text.as_str()))
            .filter(|t| !t.is_empty());
        m.match_texts(texts)
            .into_iter()
            .filter_map(|h| Some((self.refs.get(h.entry_index)?.clone(), h.kind)))
            .collect()
    }
}
