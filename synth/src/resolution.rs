//! The picture sizes the test cameras and the benchmarks offer on their command lines.

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Resolution {
    #[value(name = "360p")]
    P360,
    #[value(name = "720p")]
    P720,
    #[value(name = "1080p")]
    P1080,
}

impl Resolution {
    pub fn size(self) -> (u32, u32) {
        match self {
            Resolution::P360 => (640, 360),
            Resolution::P720 => (1280, 720),
            Resolution::P1080 => (1920, 1080),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Resolution::P360 => "360p",
            Resolution::P720 => "720p",
            Resolution::P1080 => "1080p",
        }
    }
}
