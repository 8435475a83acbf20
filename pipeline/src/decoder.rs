//! Decoder choice: a hardware decoder when its element exists and can open its device, else
//! libav's software decoder.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gst::prelude::*;
use tracing::{info, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    /// From an RTP `encoding-name`.
    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "H264" => Some(Codec::H264),
            "H265" | "HEVC" => Some(Codec::H265),
            _ => None,
        }
    }

    pub fn depayloader(self) -> &'static str {
        match self {
            Codec::H264 => "rtph264depay",
            Codec::H265 => "rtph265depay",
        }
    }

    pub fn parser(self) -> &'static str {
        match self {
            Codec::H264 => "h264parse",
            Codec::H265 => "h265parse",
        }
    }

    /// Decoders in order of preference: NVIDIA, VA (new and old plugin), then libav.
    fn decoders(self) -> &'static [&'static str] {
        match self {
            Codec::H264 => &["nvh264dec", "vah264dec", "vaapih264dec", "avdec_h264"],
            Codec::H265 => &["nvh265dec", "vah265dec", "vaapih265dec", "avdec_h265"],
        }
    }
}

/// How long a hardware decoder that failed on a real stream is passed over before it is probed
/// again: long enough that a broken device does not flap every reconnect, short enough that a
/// driver that recovers (a GPU reset, a VA device back after a suspend) is used again.
const REPROBE_AFTER: Duration = Duration::from_secs(600);

#[derive(Clone, Copy)]
enum Probe {
    Usable,
    Unusable,
    /// Failed on a stream at this instant; skipped until [`REPROBE_AFTER`] has passed.
    Broken(Instant),
}

fn probe_cache() -> &'static Mutex<HashMap<&'static str, Probe>> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, Probe>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Whether a decoder element exists and reaches READY (which opens the GPU or VA device).
fn usable(name: &'static str) -> bool {
    let known = probe_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
        .copied();
    match known {
        Some(Probe::Usable) => return true,
        Some(Probe::Unusable) => return false,
        Some(Probe::Broken(at)) if at.elapsed() < REPROBE_AFTER => return false,
        Some(Probe::Broken(_)) => info!(decoder = name, "re-probing a decoder that failed before"),
        None => {}
    }
    let ok = gst::ElementFactory::make(name).build().is_ok_and(|el| {
        let ready = el.set_state(gst::State::Ready).is_ok();
        let _ = el.set_state(gst::State::Null);
        ready
    });
    probe_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name, if ok { Probe::Usable } else { Probe::Unusable });
    ok
}

/// Marks a decoder as unusable after it failed on a real stream, so the next attempts fall back
/// to the next decoder until it is probed again after [`REPROBE_AFTER`]. Said at warn level: a
/// GPU appliance decoding on the CPU must not do so silently.
pub fn mark_broken(name: &str, reason: &str) {
    let mut cache = probe_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, probe)) = cache.iter_mut().find(|(k, _)| **k == name) {
        *probe = Probe::Broken(Instant::now());
        warn!(
            decoder = name,
            reason,
            reprobe_after_s = REPROBE_AFTER.as_secs(),
            "hardware decoder failed on a stream; falling back to the next decoder"
        );
    }
}

/// Whether `name` is a hardware decoder (a failure there is worth a software retry).
pub fn is_hardware(name: &str) -> bool {
    !name.starts_with("avdec_")
}

/// The preferred decoder for `codec` that works on this machine, if any.
pub fn choose(codec: Codec) -> Option<&'static str> {
    codec.decoders().iter().copied().find(|name| usable(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_decoders_are_always_found() {
        gst::init().unwrap();
        assert!(choose(Codec::H264).is_some());
        assert!(choose(Codec::H265).is_some());
        assert_eq!(Codec::from_encoding_name("h265"), Some(Codec::H265));
        assert_eq!(Codec::from_encoding_name("JPEG"), None);
    }

    #[test]
    fn a_broken_decoder_is_skipped_then_probed_again() {
        // Not one the other tests choose: the cache is shared by the whole process.
        gst::init().unwrap();
        assert!(usable("avdec_mpeg2video"));
        mark_broken("avdec_mpeg2video", "test");
        assert!(!usable("avdec_mpeg2video"), "skipped right after it failed");
        probe_cache().lock().unwrap().insert(
            "avdec_mpeg2video",
            Probe::Broken(Instant::now() - REPROBE_AFTER),
        );
        assert!(
            usable("avdec_mpeg2video"),
            "probed again once the wait is over"
        );
    }
}
