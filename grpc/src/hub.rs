//! Where the pipeline publishes what the live streams serve: reads, hotlist hits and camera
//! status. Publishing never blocks (bounded broadcast channels): a client that falls behind
//! skips ahead and is told how many messages it missed; it never slows the pipeline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use custos_store::{Camera, Read};
use tokio::sync::broadcast;

/// A hotlist hit, as the matcher reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    pub agency: String,
    pub read_id: u64,
    pub hotlist_id: u64,
    pub hotlist_name: String,
    pub entry_id: u64,
    pub plate: String,
    pub camera: String,
    pub captured_at_ms: u64,
    pub covert: bool,
    /// "exact", "confusable" or "edit_distance".
    pub match_kind: String,
    /// Found when the entry was added, in reads stored before.
    pub retroactive: bool,
}

#[derive(Clone, Debug)]
pub struct LiveRead {
    pub agency: String,
    pub read: Read,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CameraState {
    pub state: String,
    pub detail: String,
    pub updated_at_ms: u64,
}

/// Cheap to clone; hand one to the pipeline.
#[derive(Clone)]
pub struct Hub {
    reads: broadcast::Sender<Arc<LiveRead>>,
    alerts: broadcast::Sender<Arc<AlertEvent>>,
    cameras: Arc<RwLock<HashMap<(String, String), CameraState>>>,
    /// Per agency: the cameras of the appliance's config file (the registry holds the rest).
    configured: Arc<RwLock<HashMap<String, Vec<Camera>>>>,
    /// Bumped by every hotlist change made through the API, so the matcher reloads at once
    /// instead of waiting for its periodic re-read.
    hotlists: Arc<AtomicU64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl Hub {
    /// `capacity`: messages a slow subscriber may fall behind before it skips ahead.
    pub fn new(capacity: usize) -> Self {
        Self {
            reads: broadcast::channel(capacity.max(1)).0,
            alerts: broadcast::channel(capacity.max(1)).0,
            cameras: Arc::default(),
            configured: Arc::default(),
            hotlists: Arc::default(),
        }
    }

    pub fn publish_read(&self, agency: &str, read: Read) {
        // No subscriber is not an error.
        let _ = self.reads.send(Arc::new(LiveRead {
            agency: agency.into(),
            read,
        }));
    }

    pub fn publish_alert(&self, alert: AlertEvent) {
        let _ = self.alerts.send(Arc::new(alert));
    }

    pub fn set_camera_status(&self, agency: &str, camera: &str, state: CameraState) {
        self.cameras
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert((agency.into(), camera.into()), state);
    }

    pub fn camera_status(&self, agency: &str, camera: &str) -> Option<CameraState> {
        self.cameras
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(agency.to_owned(), camera.to_owned()))
            .cloned()
    }

    pub fn hotlists_changed(&self) {
        self.hotlists.fetch_add(1, Ordering::Release);
    }

    /// Changes with every [`Self::hotlists_changed`].
    pub fn hotlists_generation(&self) -> u64 {
        self.hotlists.load(Ordering::Acquire)
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

    pub(crate) fn subscribe_reads(&self) -> broadcast::Receiver<Arc<LiveRead>> {
        self.reads.subscribe()
    }

    pub(crate) fn subscribe_alerts(&self) -> broadcast::Receiver<Arc<AlertEvent>> {
        self.alerts.subscribe()
    }
}
