//! Decoder choice: a hardware decoder when its element exists and can open its device, else
//! libav's software decoder.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use gst::prelude::*;

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

fn usable_cache() -> &'static Mutex<HashMap<&'static str, bool>> {
    static CACHE: OnceLock<Mutex<HashMap<&'static str, bool>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Whether a decoder element exists and reaches READY (which opens the GPU or VA device).
fn usable(name: &'static str) -> bool {
    if let Some(known) = usable_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(name)
    {
        return *known;
    }
    let ok = gst::ElementFactory::make(name).build().is_ok_and(|el| {
        let ready = el.set_state(gst::State::Ready).is_ok();
        let _ = el.set_state(gst::State::Null);
        ready
    });
    usable_cache()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name, ok);
    ok
}

/// Marks a decoder as unusable after it failed on a real stream, so the next attempt falls back.
pub fn mark_broken(name: &str) {
    let mut cache = usable_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = cache.iter_mut().find(|(k, _)| **k == name) {
        *known.1 = false;
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
}
