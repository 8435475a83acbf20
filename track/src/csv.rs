//! Hotlist CSV import.
//!
//! # Format
//!
//! UTF-8 text (a leading byte-order mark is ignored), records separated by `\n` or `\r\n`,
//! fields separated by `,`, RFC 4180 quoting: a field in double quotes may hold commas, line
//! breaks and `""` for a quote. Blank lines are ignored.
//!
//! The first record is the **header** and is required. It names the columns, in any order,
//! case-insensitively; each name at most once, and no other names:
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `plate` | yes | the plate; normalised (letters upper-cased; spaces, `-`, `.` dropped); 1–16 letters and digits |
//! | `list` | yes | the list id: 1–64 characters of `A-Z a-z 0-9 - _ .` |
//! | `note` | no | free text, at most 1024 characters; empty when the column is absent |
//! | `covert` | no | `true`/`false`, `yes`/`no`, `1`/`0` (any case) or empty (= false) |
//!
//! Every record must have as many fields as the header. A plate may appear on several lists,
//! but the same plate twice on one list is an error on the second line.
//!
//! Errors are reported per line (the line where the record starts, counting from 1 with the
//! header on line 1), all of them, and by default nothing is imported when any line is bad; with
//! [`CsvOptions::skip_bad_lines`] the good lines are imported and the bad ones returned.

use std::collections::HashMap;
use std::fmt;

use crate::hotlist::{EntryError, WatchedPlate};

const MAX_NOTE_CHARS: usize = 1024;

/// Import options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// Import the good lines of a file that has bad ones (returning the bad ones) instead of
    /// importing nothing.
    pub skip_bad_lines: bool,
}

/// What is wrong with one line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    #[error("{found} fields where the header has {expected}")]
    FieldCount { expected: usize, found: usize },
    #[error("a quoted field is not closed")]
    UnclosedQuote,
    #[error("text after a closing quote")]
    TextAfterQuote,
    #[error("{0}")]
    Entry(#[from] EntryError),
    #[error("covert is {0:?}; use true/false, yes/no, 1/0 or leave it empty")]
    BadCovert(String),
    #[error("note has {0} characters; at most 1024 are allowed")]
    NoteTooLong(usize),
    #[error("plate {plate} is already on list {list} (line {first_line})")]
    Duplicate {
        plate: String,
        list: String,
        first_line: usize,
    },
}

/// One bad line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// 1-based line number where the record starts.
    pub line: usize,
    pub problem: LineProblem,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

/// Why a file was not imported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error(
        "the file is empty; it needs a header line naming the columns (plate,list[,note][,covert])"
    )]
    Empty,
    #[error("line 1 (header): {0}")]
    BadHeader(String),
    #[error("{} bad line(s), nothing imported:\n{}", .0.len(), lines(.0))]
    BadLines(Vec<BadLine>),
}

fn lines(bad: &[BadLine]) -> String {
    bad.iter()
        .map(|b| format!("  {b}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A successful import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvImport {
    pub entries: Vec<WatchedPlate>,
    /// The lines left out; always empty unless [`CsvOptions::skip_bad_lines`] was set.
    pub skipped: Vec<BadLine>,
}

/// A record: its starting line and its fields, or the problem that made it unreadable.
type Record = (usize, Result<Vec<String>, LineProblem>);

/// Splits CSV text into records (see the module documentation for the dialect).
fn records(text: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut problem = None;
        let mut quoted_field = false;
        loop {
            match chars.next() {
                None => {
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('\n') => {
                    line += 1;
                    fields.push(std::mem::take(&mut field));
                    break;
                }
                Some('\r') if chars.peek() == Some(&'\n') => {}
                Some(',') => {
                    fields.push(std::mem::take(&mut field));
                    quoted_field = false;
                }
                Some('"') if field.is_empty() && !quoted_field => {
                    quoted_field = true;
                    let mut closed = false;
                    while let Some(c) = chars.next() {
                        match c {
                            '"' if chars.peek() == Some(&'"') => {
                                chars.next();
                                field.push('"');
                            }
                            '"' => {
                                closed = true;
                                break;
                            }
                            '\n' => {
                                line += 1;
                                field.push('\n');
                            }
                            c => field.push(c),
                        }
                    }
                    if !closed {
                        problem.get_or_insert(LineProblem::UnclosedQuote);
                    }
                }
                Some(c) => {
                    if quoted_field && !c.is_whitespace() {
                        problem.get_or_insert(LineProblem::TextAfterQuote);
                    }
                    if !quoted_field {
                        field.push(c);
                    }
                }
            }
        }
        let blank = fields.len() == 1 && fields[0].trim().is_empty() && problem.is_none();
        if !blank {
            out.push((start, problem.map_or(Ok(fields), Err)));
        }
    }
    out
}

fn parse_covert(value: &str) -> Result<bool, LineProblem> {
    match value.trim().to_ascii_lowercase().as_str() {
        "" | "false" | "no" | "0" => Ok(false),
        "true" | "yes" | "1" => Ok(true),
        _ => Err(LineProblem::BadCovert(value.to_owned())),
    }
}

/// Imports hotlist entries from CSV text (format in the module documentation).
///
/// Without `skip_bad_lines`, any bad line fails the whole import with
/// [`CsvError::BadLines`] listing every bad line. A bad header always fails it.
pub fn import_csv(text: &str, options: CsvOptions) -> Result<CsvImport, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut recs = records(text).into_iter();
    let (header_line, header) = recs.next().ok_or(CsvError::Empty)?;
    if header_line != 1 {
        return Err(CsvError::BadHeader(format!(
            "the header must be on the first line, found it on line {header_line}"
        )));
    }
    let header = header.map_err(|p| CsvError::BadHeader(p.to_string()))?;
    let mut cols: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let key = match name.trim().to_ascii_lowercase().as_str() {
            "plate" => "plate",
            "list" => "list",
            "note" => "note",
            "covert" => "covert",
            other => {
                return Err(CsvError::BadHeader(format!(
                    "unknown column {other:?}; the columns are plate, list, note and covert"
                )));
            }
        };
        if cols.insert(key, i).is_some() {
            return Err(CsvError::BadHeader(format!("column {key:?} appears twice")));
        }
    }
    for required in ["plate", "list"] {
        if !cols.contains_key(required) {
            return Err(CsvError::BadHeader(format!(
                "the required column {required:?} is missing"
            )));
        }
    }

    let mut entries = Vec::new();
    let mut bad = Vec::new();
    // (plate, list) → line of the first occurrence.
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for (line, fields) in recs {
        let result = fields.and_then(|fields| {
            if fields.len() != header.len() {
                return Err(LineProblem::FieldCount {
                    expected: header.len(),
                    found: fields.len(),
                });
            }
            let get = |key: &str| cols.get(key).map_or("", |&i| fields[i].as_str());
            let covert = parse_covert(get("covert"))?;
            let note = get("note").trim();
            let note_len = note.chars().count();
            if note_len > MAX_NOTE_CHARS {
                return Err(LineProblem::NoteTooLong(note_len));
            }
            let entry = WatchedPlate::new(get("plate"), get("list"), covert, note)?;
            let key = (entry.plate.clone(), entry.list.clone());
            if let Some(&first_line) = seen.get(&key) {
                return Err(LineProblem::Duplicate {
                    plate: key.0,
                    list: key.1,
                    first_line,
                });
            }
            seen.insert(key, line);
            Ok(entry)
        });
        match result {
            Ok(e) => entries.push(e),
            Err(problem) => bad.push(BadLine { line, problem }),
        }
    }
    if !bad.is_empty() && !options.skip_bad_lines {
        return Err(CsvError::BadLines(bad));
    }
    Ok(CsvImport {
        entries,
        skipped: bad,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &str = "plate,list,note,covert\n\
        ABC-1234,stolen,\"Silver sedan, dented\",no\n\
        ,stolen,no plate,\n\
        XYZ9876,wanted\n\
        \n\
        QRS 555,amber,,maybe\n\
        abc1234,stolen,again,\n\
        DEF4321,bad list,,\n\
        GHI7777,covert-ops,\"note with \"\"quotes\"\"\nand a line break\",true\n\
        JKL1,,,\n";

    #[test]
    fn every_bad_line_is_reported_and_nothing_imported() {
        let err = import_csv(MIXED, CsvOptions::default()).unwrap_err();
        let CsvError::BadLines(bad) = &err else {
            panic!("expected bad lines, got {err:?}");
        };
        let numbers: Vec<usize> = bad.iter().map(|b| b.line).collect();
        // Line 11: the record before starts on line 9 and spans two lines.
        assert_eq!(numbers, [3, 4, 6, 7, 8, 11]);
        assert_eq!(bad[0].problem, LineProblem::Entry(EntryError::EmptyPlate));
        assert_eq!(
            bad[1].problem,
            LineProblem::FieldCount {
                expected: 4,
                found: 2
            }
        );
        assert_eq!(bad[2].problem, LineProblem::BadCovert("maybe".into()));
        assert_eq!(
            bad[3].problem,
            LineProblem::Duplicate {
                plate: "ABC1234".into(),
                list: "stolen".into(),
                first_line: 2
            }
        );
        assert!(matches!(
            bad[4].problem,
            LineProblem::Entry(EntryError::BadList(_))
        ));
        assert_eq!(bad[5].problem, LineProblem::Entry(EntryError::EmptyList));
        let msg = err.to_string();
        assert!(msg.starts_with("6 bad line(s), nothing imported"), "{msg}");
        assert!(
            msg.contains("line 4: 2 fields where the header has 4"),
            "{msg}"
        );
    }

    #[test]
    fn skip_bad_lines_imports_the_good_ones() {
        let got = import_csv(
            MIXED,
            CsvOptions {
                skip_bad_lines: true,
            },
        )
        .unwrap();
        assert_eq!(got.skipped.len(), 6);
        let plates: Vec<&str> = got.entries.iter().map(|e| e.plate.as_str()).collect();
        assert_eq!(plates, ["ABC1234", "GHI7777"]);
        assert_eq!(got.entries[0].note, "Silver sedan, dented");
        assert!(!got.entries[0].covert);
        assert!(got.entries[1].covert);
        assert_eq!(
            got.entries[1].note,
            "note with \"quotes\"\nand a line break"
        );
    }

    #[test]
    fn a_good_file_imports_everything() {
        let csv = "\u{feff}List,Plate\r\nstolen,abc-123\r\nwanted,XYZ 9\r\n";
        let got = import_csv(csv, CsvOptions::default()).unwrap();
        assert!(got.skipped.is_empty());
        assert_eq!(got.entries.len(), 2);
        assert_eq!(
            got.entries[0],
            WatchedPlate::new("ABC123", "stolen", false, "").unwrap()
        );
        assert_eq!(got.entries[1].plate, "XYZ9");
    }

    #[test]
    fn header_problems_fail_the_file() {
        assert_eq!(import_csv("", CsvOptions::default()), Err(CsvError::Empty));
        for (csv, want) in [
            ("plate,note\nABC,x\n", "required column \"list\""),
            ("plate,list,colour\n", "unknown column \"colour\""),
            ("plate,list,plate\n", "appears twice"),
            ("ABC123,stolen\n", "unknown column \"abc123\""),
        ] {
            let err = import_csv(
                csv,
                CsvOptions {
                    skip_bad_lines: true,
                },
            )
            .unwrap_err();
            assert!(err.to_string().contains(want), "{csv:?}: {err}");
        }
    }

    #[test]
    fn broken_quotes_are_line_errors() {
        let csv = "plate,list\n\"AB\"C,stolen\nGOOD1,stolen\n\"XY,stolen\n";
        let Err(CsvError::BadLines(bad)) = import_csv(csv, CsvOptions::default()) else {
            panic!("expected bad lines");
        };
        assert_eq!(bad.len(), 2);
        assert_eq!(
            (bad[0].line, &bad[0].problem),
            (2, &LineProblem::TextAfterQuote)
        );
        assert_eq!(
            (bad[1].line, &bad[1].problem),
            (4, &LineProblem::UnclosedQuote)
        );
    }
}
