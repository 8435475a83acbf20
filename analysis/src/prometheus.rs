//! The one Prometheus text-format (0.0.4) encoder that `/metrics` is written with: the
//! analysis' and ingest's counters and the store writer's.

use std::fmt::Write as _;

/// Appends one metric family: its `# HELP` and `# TYPE` lines, then one line per sample
/// (`labels` as [`labels`] renders them, `value` already formatted).
pub fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in samples {
        let _ = writeln!(out, "{name}{labels} {value}");
    }
}

/// `{k1="v1",k2="v2"}` with the values escaped; empty for no labels.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// A label value as the text format wants it: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_escaped_labels() {
        let mut out = String::new();
        let l = labels(&[("camera", "a\"b\\c\nd"), ("agency", "north")]);
        family(&mut out, "x_total", "counter", "Xs.", &[(l, "3".into())]);
        assert_eq!(
            out,
            "# HELP x_total Xs.\n# TYPE x_total counter\nx_total{camera=\"a\\\"b\\\\c\\nd\",agency=\"north\"} 3\n"
        );
        assert_eq!(labels(&[]), "");
    }
}
