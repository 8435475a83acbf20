//! The live-event hub: where the store writer publishes what the live streams serve (reads,
//! hotlist hits, camera health) and where the API tells the writer that hotlists changed.
//!
//! Owns only in-memory fan-out. May not touch the network, the database files or the analysis:
//! `custos-analysis` publishes, `custos-grpc` subscribes. Publishing never blocks (bounded
//! broadcast channels): a client that falls behind skips ahead and is told how many messages it
//! missed; it never slows the pipeline.

#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use custos_store::{Camera, Read};
use tokio::sync::broadcast;

/// A hotlist hit, as the matcher reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    /// The agency whose read hit.
    pub agency: String,
    /// The read that hit.
    pub read_id: u64,
    /// The hotlist of the entry.
    pub hotlist_id: u64,
    /// That hotlist's name.
    pub hotlist_name: String,
    /// The entry that matched.
    pub entry_id: u64,
    /// The read's plate (normalised).
    pub plate: String,
    /// The camera that read it.
    pub camera: String,
    /// When the plate was captured, ms since the Unix epoch.
    pub captured_at_ms: u64,
    /// A covert entry: only principals allowed covert alerts see it.
    pub covert: bool,
    /// "exact", "confusable" or "edit_distance".
    pub match_kind: String,
    /// Found when the entry was added, in reads stored before.
    pub retroactive: bool,
}

/// A stored read, for `Reads.StreamLive`.
#[derive(Clone, Debug)]
pub struct LiveRead {
    /// The agency that stored it.
    pub agency: String,
    /// The read as stored.
    pub read: Read,
}

/// A camera's health as the Cameras API reports it (the ingest's state, in words).
#[derive(Clone, Debug, PartialEq)]
pub struct CameraHealth {
    /// The ingest state in words (`streaming`, `backoff`, …).
    pub state: String,
    /// Why, when not streaming (the last error).
    pub detail: String,
    /// When this was last set, ms since the Unix epoch.
    pub updated_at_ms: u64,
}

/// Cheap to clone; hand one to the pipeline.
#[derive(Clone)]
pub struct Hub {
    reads: broadcast::Sender<Arc<LiveRead>>,
    alerts: broadcast::Sender<Arc<AlertEvent>>,
    cameras: Arc<RwLock<HashMap<(String, String), CameraHealth>>>,
    /// Per agency: the cameras of the appliance's config file (the registry holds the rest).
    configured: Arc<RwLock<HashMap<String, Vec<Camera>>>>,
    /// One message per burst of hotlist changes made through the API (bounded to one, so a
    /// burst coalesces), so the matcher reloads at once instead of at its periodic re-read.
    hotlist_changed: crossbeam_channel::Sender<()>,
    hotlist_changes: crossbeam_channel::Receiver<()>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl Hub {
    /// `capacity`: messages a slow subscriber may fall behind before it skips ahead.
    pub fn new(capacity: usize) -> Self {
        let (hotlist_changed, hotlist_changes) = crossbeam_channel::bounded(1);
        Self {
            reads: broadcast::channel(capacity.max(1)).0,
            alerts: broadcast::channel(capacity.max(1)).0,
            cameras: Arc::default(),
            configured: Arc::default(),
            hotlist_changed,
            hotlist_changes,
        }
    }

    /// Publishes a stored read of `agency` to `Reads.StreamLive` followers.
    pub fn publish_read(&self, agency: &str, read: Read) {
        // No subscriber is not an error.
        let _ = self.reads.send(Arc::new(LiveRead {
            agency: agency.into(),
            read,
        }));
    }

    /// Publishes a hotlist alert to `Hotlists.StreamAlerts` followers.
    pub fn publish_alert(&self, alert: AlertEvent) {
        let _ = self.alerts.send(Arc::new(alert));
    }

    /// Records a camera's health.
    pub fn set_camera_status(&self, agency: &str, camera: &str, state: CameraHealth) {
        self.cameras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((agency.into(), camera.into()), state);
    }

    /// A camera's last recorded health.
    pub fn camera_status(&self, agency: &str, camera: &str) -> Option<CameraHealth> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(agency.to_owned(), camera.to_owned()))
            .cloned()
    }

    /// A hotlist changed through the API: the matcher reloads.
    pub fn hotlists_changed(&self) {
        // Full means a reload is already pending: this change is covered by it.
        let _ = self.hotlist_changed.try_send(());
    }

    /// Where the store writer hears of [`Self::hotlists_changed`]: one message per burst.
    pub fn hotlist_changes(&self) -> crossbeam_channel::Receiver<()> {
        self.hotlist_changes.clone()
    }

    /// Forgets the state of `agency`'s cameras that are not in `running`.
    pub fn retain_camera_status(&self, agency: &str, running: &[&str]) {
        self.cameras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(a, cam), _| a != agency || running.contains(&cam.as_str()));
    }

    /// The cameras the appliance's config file gives `agency`: the Cameras API lists and
    /// reports them and refuses to change them.
    pub fn set_configured_cameras(&self, agency: &str, cameras: Vec<Camera>) {
        self.configured
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(agency.into(), cameras);
    }

    /// The cameras [`Self::set_configured_cameras`] gave `agency` (none: empty).
    pub fn configured_cameras(&self, agency: &str) -> Vec<Camera> {
        self.configured
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(agency)
            .cloned()
            .unwrap_or_default()
    }

    /// Clients currently following alerts (tests wait for a subscriber before publishing).
    pub fn alert_subscribers(&self) -> usize {
        self.alerts.receiver_count()
    }

    /// Follows the reads as they are stored.
    pub fn subscribe_reads(&self) -> broadcast::Receiver<Arc<LiveRead>> {
        self.reads.subscribe()
    }

    /// Follows the hotlist alerts as they are raised.
    pub fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.alerts.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_hotlist_changes_is_one_message() {
        let hub = Hub::new(4);
        let changes = hub.hotlist_changes();
        assert!(changes.try_recv().is_err());
        for _ in 0..5 {
            hub.hotlists_changed();
        }
        assert!(changes.try_recv().is_ok());
        assert!(changes.try_recv().is_err(), "coalesced");
        hub.clone().hotlists_changed();
        assert!(changes.try_recv().is_ok(), "clones share the channel");
    }
}
