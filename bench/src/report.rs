//! The report: every figure next to its baseline and the ratio, printed as an aligned table or as
//! one JSON object (snake_case keys, numbers as numbers).
//!
//! JSON layout: run facts at the top level (`date`, `cores`, `mode`, `rows`, `concurrency`,
//! `existing_rows`, `read_samples`, `max_secs_per_run`, `peak_rss_kib`), `baseline` with the
//! baseline figures, and `results.<mode>` with that mode's figures plus `ratios` (figure key →
//! value / baseline).

use serde_json::{json, Map, Value};

/// How a figure is measured and printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Throughput (higher is better).
    PerSec,
    /// Latency in microseconds (lower is better).
    Micros,
    /// Memory in KiB.
    KiB,
    /// Data rate in MiB (2^20 bytes) per second (higher is better).
    MiBPerSec,
    /// A duration in seconds.
    Secs,
    /// A duration in milliseconds.
    Millis,
    /// A share in percent.
    Percent,
    /// A size in MiB.
    MiB,
    /// A number of events.
    Count,
}

/// What a figure is compared with.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub value: f64,
    /// Short tag printed next to the value, e.g. `durable`.
    pub name: &'static str,
}

#[derive(Debug, Clone)]
pub struct Figure {
    /// Stable snake_case JSON key.
    pub key: String,
    /// Human label.
    pub label: String,
    pub value: f64,
    pub unit: Unit,
    pub baseline: Option<Baseline>,
}

impl Figure {
    pub fn new(key: &str, label: &str, value: f64, unit: Unit) -> Self {
        Figure {
            key: key.into(),
            label: label.into(),
            value,
            unit,
            baseline: None,
        }
    }

    pub fn vs(mut self, name: &'static str, value: f64) -> Self {
        self.baseline = Some(Baseline { value, name });
        self
    }

    /// Value divided by the baseline's value.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline
            .as_ref()
            .filter(|b| b.value > 0.0)
            .map(|b| self.value / b.value)
    }
}

/// The figures of one mode (or of the baselines).
#[derive(Debug, Clone)]
pub struct Section {
    /// JSON key: `baseline`, `single`, `cluster` or `processes`.
    pub key: &'static str,
    pub title: String,
    /// Printed under the title.
    pub notes: Vec<String>,
    pub figures: Vec<Figure>,
    /// Numbers only in the JSON (row counts, set-up times).
    pub extra: Vec<(String, f64)>,
}

impl Section {
    pub fn new(key: &'static str, title: &str) -> Self {
        Section {
            key,
            title: title.into(),
            notes: Vec::new(),
            figures: Vec::new(),
            extra: Vec::new(),
        }
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        let mut ratios = Map::new();
        for f in &self.figures {
            map.insert(f.key.clone(), number(f.value));
            if let Some(r) = f.ratio() {
                ratios.insert(f.key.clone(), number(r));
            }
        }
        for (k, v) in &self.extra {
            map.insert(k.clone(), number(*v));
        }
        if !ratios.is_empty() {
            map.insert("ratios".into(), Value::Object(ratios));
        }
        Value::Object(map)
    }
}

/// Facts about the run.
#[derive(Debug, Clone)]
pub struct Meta {
    pub date: String,
    pub cores: usize,
    pub mode: String,
    pub rows: usize,
    pub concurrency: Vec<usize>,
    pub existing_rows: u64,
    pub read_samples: usize,
    pub max_secs_per_run: f64,
    pub read_policy: String,
    /// `backup` mode: the database size asked for, in MiB.
    pub backup_mb: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Report {
    pub meta: Meta,
    pub baseline: Section,
    pub results: Vec<Section>,
    /// Peak RSS of the benchmark process over the whole run.
    pub peak_rss_kib: Option<u64>,
}

impl Report {
    pub fn to_json(&self) -> Value {
        let m = &self.meta;
        let results: Map<String, Value> = self
            .results
            .iter()
            .map(|s| (s.key.to_string(), s.to_json()))
            .collect();
        let mut v = json!({
            "date": m.date,
            "cores": m.cores,
            "mode": m.mode,
            "rows": m.rows,
            "concurrency": m.concurrency,
            "existing_rows": m.existing_rows,
            "read_samples": m.read_samples,
            "max_secs_per_run": m.max_secs_per_run,
            "read_policy": m.read_policy,
            "baseline": self.baseline.to_json(),
            "results": results,
        });
        if let Some(kib) = self.peak_rss_kib {
            v["peak_rss_kib"] = json!(kib);
        }
        if let Some(mb) = m.backup_mb {
            v["backup_mb"] = json!(mb);
        }
        v
    }

    /// The table's first line: the run's facts.
    fn header(&self) -> String {
        let m = &self.meta;
        let cs: Vec<String> = m.concurrency.iter().map(|c| c.to_string()).collect();
        if let Some(mb) = m.backup_mb {
            return format!(
                "hiqlite-bench {}, {} cores, mode backup, database of about {mb} MiB, writes at \
                 C={}, log shipping every 1 s\n",
                m.date,
                m.cores,
                cs.join(","),
            );
        }
        if m.mode == "failover" {
            return format!(
                "hiqlite-bench {}, {} cores, mode failover, steady phase {} s at C={}\n",
                m.date,
                m.cores,
                m.max_secs_per_run,
                cs.join(","),
            );
        }
        format!(
            "hiqlite-bench {}, {} cores, mode {}, R={} rows, C={}, {} existing rows, {} read \
             samples, at most {} s per write run, consistent reads by {}\n",
            m.date,
            m.cores,
            m.mode,
            m.rows,
            cs.join(","),
            m.existing_rows,
            m.read_samples,
            m.max_secs_per_run,
            m.read_policy,
        )
    }

    /// The human table.
    pub fn to_table(&self) -> String {
        let mut out = self.header();
        out.push_str(
            "ratio = value / baseline (throughput: higher is better; latency: lower is better)\n",
        );
        let mut lines = vec![Line::Row([
            "figure".into(),
            "value".into(),
            "baseline".into(),
            "ratio".into(),
        ])];
        for section in std::iter::once(&self.baseline).chain(&self.results) {
            lines.push(Line::Title(section.title.clone()));
            lines.extend(section.notes.iter().map(|n| Line::Note(n.clone())));
            for f in &section.figures {
                lines.push(Line::Row([
                    f.label.clone(),
                    format_value(f.value, f.unit),
                    f.baseline
                        .as_ref()
                        .map(|b| format!("{} {}", format_value(b.value, f.unit), b.name))
                        .unwrap_or_default(),
                    f.ratio().map(format_ratio).unwrap_or_default(),
                ]));
            }
        }
        if let Some(kib) = self.peak_rss_kib {
            lines.push(Line::Title("whole run".into()));
            lines.push(Line::Row([
                "peak RSS of the benchmark process".into(),
                format_value(kib as f64, Unit::KiB),
                String::new(),
                String::new(),
            ]));
        }
        let mut w = [0usize; 4];
        for line in &lines {
            if let Line::Row(r) = line {
                for (col, cell) in r.iter().enumerate() {
                    w[col] = w[col].max(cell.chars().count());
                }
            }
        }
        for line in &lines {
            match line {
                Line::Title(t) => out.push_str(&format!("\n{t}\n")),
                Line::Note(n) => out.push_str(&format!("  ({n})\n")),
                Line::Row(r) => {
                    let row = format!(
                        "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        w0 = w[0],
                        w1 = w[1],
                        w2 = w[2],
                        w3 = w[3]
                    );
                    out.push_str(row.trim_end());
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// One line of the human table.
enum Line {
    Title(String),
    Note(String),
    /// figure, value, baseline, ratio
    Row([String; 4]),
}

/// A finite JSON number (NaN and infinities, which JSON lacks, become 0).
fn number(v: f64) -> Value {
    if !v.is_finite() {
        return json!(0);
    }
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!((v * 1000.0).round() / 1000.0)
    }
}

pub fn format_value(v: f64, unit: Unit) -> String {
    match unit {
        Unit::PerSec => format!("{}/s", thousands(v.round() as u64)),
        Unit::Micros if v < 1_000.0 => format!("{v:.1} µs"),
        Unit::Micros if v < 1_000_000.0 => format!("{:.2} ms", v / 1_000.0),
        Unit::Micros => format!("{:.2} s", v / 1_000_000.0),
        Unit::KiB => format!("{:.1} MiB", v / 1024.0),
        Unit::MiBPerSec => format!("{v:.1} MiB/s"),
        Unit::Secs => format!("{v:.2} s"),
        Unit::Millis => format!("{v:.0} ms"),
        Unit::Percent => format!("{v:.1} %"),
        Unit::MiB => format!("{v:.1} MiB"),
        Unit::Count => format!("{v:.0}"),
    }
}

fn format_ratio(r: f64) -> String {
    if r >= 100.0 {
        format!("{r:.0}×")
    } else if r >= 10.0 {
        format!("{r:.1}×")
    } else {
        format!("{r:.2}×")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        let left = digits.len() - i;
        if i > 0 && left.is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(format_value(15234.4, Unit::PerSec), "15,234/s");
        assert_eq!(format_value(3.04, Unit::Micros), "3.0 µs");
        assert_eq!(format_value(1500.0, Unit::Micros), "1.50 ms");
        assert_eq!(format_value(2048.0, Unit::KiB), "2.0 MiB");
        assert_eq!(format_ratio(52.34), "52.3×");
        assert_eq!(format_value(812.345, Unit::MiBPerSec), "812.3 MiB/s");
        assert_eq!(format_value(1.5, Unit::Secs), "1.50 s");
        assert_eq!(format_value(930.4, Unit::Millis), "930 ms");
        assert_eq!(format_value(-4.26, Unit::Percent), "-4.3 %");
    }

    #[test]
    fn json_has_ratios_and_numbers() {
        let mut s = Section::new("single", "single");
        s.figures
            .push(Figure::new("insert_per_sec", "x", 300.0, Unit::PerSec).vs("durable", 100.0));
        s.extra.push(("rows".into(), 10.0));
        let v = s.to_json();
        assert_eq!(v["insert_per_sec"], json!(300));
        assert_eq!(v["rows"], json!(10));
        assert_eq!(v["ratios"]["insert_per_sec"], json!(3));
        assert_eq!(number(1.23456), json!(1.235));
        assert_eq!(number(f64::NAN), json!(0));
    }
}
