//! The one reader of the data set's tab-separated files (`alpr-bench/MANIFEST.tsv`,
//! `ocr-crops/labels.tsv`, `detect-dashcam-ro/boxes.tsv`, `train-real/labels.tsv`): a header line
//! naming the columns, then one row per line; blank lines are skipped.

use std::path::{Path, PathBuf};

/// A manifest file that cannot be read or does not have the expected shape.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not what the header promises.
    #[error("{path} line {line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A whole manifest: its header and its non-blank rows.
#[derive(Debug)]
pub struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

/// One row, with its line number for messages.
pub struct Row<'a> {
    table: &'a Table,
    /// 1-based line number in the file.
    pub line: usize,
    fields: &'a [String],
}

impl Table {
    /// Reads `path`; an empty file (no header) is an error.
    pub fn read(path: &Path) -> Result<Table, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = text.lines();
        let header: Vec<String> = match lines.next() {
            Some(h) => h.split('\t').map(|s| s.trim().to_owned()).collect(),
            None => {
                return Err(ManifestError::Line {
                    path: path.to_path_buf(),
                    line: 1,
                    reason: "empty file: expected a header line".into(),
                });
            }
        };
        let rows = lines
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 2, l.split('\t').map(str::to_owned).collect()))
            .collect();
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header's column names.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The index of column `name`, if the header has it.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// The rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|(line, fields)| Row {
            table: self,
            line: *line,
            fields,
        })
    }

    /// An error about line `line` of this file.
    pub fn error(&self, line: usize, reason: impl Into<String>) -> ManifestError {
        ManifestError::Line {
            path: self.path.clone(),
            line,
            reason: reason.into(),
        }
    }
}

impl Row<'_> {
    /// Column `c`'s text, trimmed.
    pub fn get(&self, c: usize) -> Result<&str, ManifestError> {
        self.fields.get(c).map(|s| s.trim()).ok_or_else(|| {
            self.table
                .error(self.line, format!("expected at least {} columns", c + 1))
        })
    }

    /// Column `c` as a finite number.
    pub fn number(&self, c: usize) -> Result<f64, ManifestError> {
        let s = self.get(c)?;
        s.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                let name = self.table.header.get(c).map_or("?", String::as_str);
                self.table
                    .error(self.line, format!("{s:?} in column {name} is not a number"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rows_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tsv");
        std::fs::write(&path, "image\tx\tplate\na.jpg\t3\tABC\n\nb.jpg\tx\n").unwrap();
        let t = Table::read(&path).unwrap();
        assert_eq!(t.column("plate"), Some(2));
        let rows: Vec<Row<'_>> = t.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].get(2).unwrap(), "ABC");
        assert_eq!(rows[0].number(1).unwrap(), 3.0);
        assert_eq!(rows[1].line, 4);
        let e = rows[1].number(1).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("column x"), "{e}");
        assert!(
            rows[1]
                .get(2)
                .unwrap_err()
                .to_string()
                .contains("at least 3 columns")
        );
        std::fs::write(&path, "").unwrap();
        assert!(Table::read(&path).is_err());
    }
}
