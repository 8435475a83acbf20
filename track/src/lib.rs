//! Tracking, voting and hotlist matching for one camera's plate reads.
//!
//! - [`Tracker`]: associates a camera's [`Detection`]s across frames (position with a
//!   constant-velocity prediction, plus text similarity) and emits one [`VehiclePass`] per
//!   track when it ends: the best crop, the text voted per character, candidates, times.
//! - [`FormatPriors`]: per-camera plate patterns (`LLLDDDD`, …) that re-rank a pass's candidates
//!   and repair a voted text with the OCR's own alternatives.
//! - [`SplitMerger`]: one pass for a vehicle whose track was split in two; [`one_per_plate`]:
//!   one detection per plate in a frame.
//! - [`Gate`]: whether a pass's evidence (agreement across frames, per-character confidence,
//!   degenerate texts) says it is a plate read right, before it is stored.
//! - [`Matcher`]: exact and OCR-confusion-aware fuzzy matching of reads against hotlist
//!   entries, indexed for large lists; [`import_csv`] loads entries.
//!
//! The crate knows only `custos-core`: the binary feeds it and stores what it emits.
//!
//! Owns: per-camera tracking policy, voting, format priors and hotlist matching. May not touch:
//! threads, I/O, the store or the network: the analysis feeds it, the writer stores what it emits.

mod confusion;
mod csv;
mod dedup;
mod gate;
mod hotlist;
mod prior;
mod split;
mod tracker;
mod vote;

pub use confusion::{CONFUSION_GROUPS, class_key, confusable, similarity};
pub use csv::{BadLine, CsvError, CsvImport, CsvOptions, LineProblem, import_csv};
pub use dedup::one_per_plate;
pub use gate::{DropReason, Gate, GateConfig, GateConfigError, is_degenerate};
pub use hotlist::{
    EntryError, HotlistMatch, MatchConfig, MatchConfigError, MatchKind, Matcher, WatchedPlate,
};
pub use prior::{
    CharClass, FormatPriors, PatternSet, PlatePattern, PriorConfig, PriorError, TextCandidate,
    VotedText,
};
pub use split::{Pushed, SplitMerger, merge, same_plate};
pub use tracker::{
    Detection, Tracker, TrackerConfig, TrackerConfigError, TrackerStats, VehiclePass,
};
pub use vote::{Ballot, LengthVotes, MAX_READ_LEN};
