//! The metric names the exporter defines in encode.rs, and the files' names checked against them.

use std::collections::BTreeSet;

use anyhow::{Result, anyhow, bail, ensure};

use super::{ENCODE, RULES};

/// The metrics the exporter defines.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Metrics {
    /// As `encode_descriptor` names them: `fwxdp_dropped_packets`.
    families: BTreeSet<String>,
    /// As the exposition names the samples: `fwxdp_dropped_packets_total`.
    samples: BTreeSet<String>,
}

impl Metrics {
    /// Every `"fwxdp_..."` string literal of `source` (the exporter's encode.rs), typed by
    /// the first `MetricType::` after it: a literal passed to `encode_descriptor` is
    /// followed by its type, and so is a table of names that one call encodes.
    pub(super) fn of(source: &str) -> Result<Self> {
        let mut metrics = Self::default();
        let mut rest = source;
        while let Some(at) = rest.find("\"fwxdp_") {
            let after = &rest[at + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..len];
            rest = &after[len..];
            // Names inside a help text run on; only a whole literal is a name.
            if !rest.starts_with('"') {
                continue;
            }
            let kind = rest
                .split_once("MetricType::")
                .map(|(_, tail)| {
                    tail.split(|c: char| !c.is_ascii_alphanumeric())
                        .next()
                        .unwrap_or_default()
                })
                .ok_or_else(|| anyhow!("{ENCODE}: no MetricType after {name:?}"))?;
            let sample = match kind {
                "Counter" => format!("{name}_total"),
                "Gauge" | "Unknown" => name.to_owned(),
                // The others expose several samples (_bucket, _sum, _info...).
                other => bail!(
                    "{ENCODE}: {name} is a MetricType::{other}: teach \
                     xtask/src/monitoring/names.rs its sample names"
                ),
            };
            metrics.families.insert(name.to_owned());
            metrics.samples.insert(sample);
        }
        ensure!(
            !metrics.samples.is_empty(),
            "{ENCODE}: no fwxdp metric found"
        );
        Ok(metrics)
    }

    /// The names in `text` (of `file`) that are neither a sample the exporter exposes nor,
    /// for a recorded name (`level:fwxdp_...:ops`), one of `recorded`.
    pub(super) fn name_problems(
        &self,
        file: &str,
        text: &str,
        recorded: &BTreeSet<String>,
    ) -> Vec<String> {
        referenced(text)
            .into_iter()
            .filter_map(|name| {
                if name.contains(':') {
                    (!recorded.contains(name))
                        .then(|| format!("{file}: {name} is not a recording rule of {RULES}"))
                } else if self.samples.contains(name) {
                    None
                } else {
                    let total = format!("{name}_total");
                    let hint = if self.samples.contains(&total) {
                        format!(" (the counter's samples are {total})")
                    } else {
                        String::new()
                    };
                    Some(format!(
                        "{file}: {name} is not a metric the exporter defines in {ENCODE}{hint}"
                    ))
                }
            })
            .collect()
    }

    /// The recorded names whose metric part (`fwxdp_...`) is not one of the exporter's.
    pub(super) fn recorded_problems(&self, recorded: &BTreeSet<String>) -> Vec<String> {
        recorded
            .iter()
            .filter(|name| {
                name.split(':')
                    .filter(|part| part.starts_with("fwxdp_"))
                    .any(|part| !self.families.contains(part) && !self.samples.contains(part))
            })
            .map(|name| format!("{RULES}: {name} records no metric the exporter defines"))
            .collect()
    }
}

/// The names in `text` that refer to fwxdp series: `fwxdp_...`, or a recorded name with
/// such a part. Names run over letters, digits, `_` and `:`, as in `PromQL`; a plain token
/// scan, so that it reads `PromQL`, YAML, JSON, Markdown and comments alike.
fn referenced(text: &str) -> BTreeSet<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        // A YAML key's colon is not part of a name.
        .map(|token| token.trim_end_matches(':'))
        .filter(|token| token.split(':').any(|part| part.starts_with("fwxdp_")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two shapes encode.rs names metrics in: a literal passed to
    /// `encode_descriptor`, and a table of names one call encodes.
    const ENCODE_SNIPPET: &str = r#"
        use prometheus_client::metrics::MetricType;
        let mut packets = encoder.encode_descriptor(
            "fwxdp_dropped_packets",
            "Packets dropped",
            None,
            MetricType::Counter,
        )?;
        let mut bytes = encoder.encode_descriptor(
            "fwxdp_dropped_bytes",
            "Bytes of the packets counted by fwxdp_dropped_packets_total",
            None,
            MetricType::Counter,
        )?;
        let gauge = encoder.encode_descriptor("fwxdp_attached", "1 where \"fwxdp_x\" is", None, MetricType::Gauge)?;
        for (name, help) in [("fwxdp_log_suppressed", "Suppressed"), ("fwxdp_log_lost", "Lost")] {
            encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
        }
    "#;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|&n| n.to_owned()).collect()
    }

    #[test]
    fn finds_every_family_and_names_counters_samples_total() {
        let metrics = Metrics::of(ENCODE_SNIPPET).unwrap();
        assert_eq!(
            metrics.families,
            set(&[
                "fwxdp_attached",
                "fwxdp_dropped_bytes",
                "fwxdp_dropped_packets",
                "fwxdp_log_lost",
                "fwxdp_log_suppressed",
            ])
        );
        assert_eq!(
            metrics.samples,
            set(&[
                "fwxdp_attached",
                "fwxdp_dropped_bytes_total",
                "fwxdp_dropped_packets_total",
                "fwxdp_log_lost_total",
                "fwxdp_log_suppressed_total",
            ])
        );
    }

    #[test]
    fn refuses_types_it_cannot_name_the_samples_of_and_a_source_without_metrics() {
        let histogram =
            r#"encoder.encode_descriptor("fwxdp_scrape_seconds", "", None, MetricType::Histogram)"#;
        assert!(Metrics::of(histogram).is_err());
        assert!(Metrics::of("fn main() {}").is_err());
    }

    #[test]
    fn the_exporter_defines_the_counters_and_gauges_the_readme_lists() {
        let source = super::super::read(&crate::workspace_root().join(ENCODE)).unwrap();
        let metrics = Metrics::of(&source).unwrap();
        for name in [
            "fwxdp_dropped_packets_total",
            "fwxdp_dropped_bytes_total",
            "fwxdp_log_lost_total",
            "fwxdp_interface_unfiltered",
            "fwxdp_scrape_errors",
        ] {
            assert!(metrics.samples.contains(name), "{name}");
        }
        assert!(!metrics.samples.contains("fwxdp_dropped_packets"));
    }

    #[test]
    fn picks_metric_and_recorded_names_out_of_promql_yaml_and_json() {
        let text = r#"- record: instance:fwxdp_dropped_packets:rate5m
  expr: "sum(rate(fwxdp_dropped_packets_total{reason=\"port\"}[5m])) / fwxdp_attached"
"uid": "fwxdp", "files": ["/etc/prometheus/fwxdp-targets/*.yml"], "job:up:sum" fwxdp_monitor:"#;
        assert_eq!(
            referenced(text).into_iter().collect::<Vec<_>>(),
            [
                "fwxdp_attached",
                "fwxdp_dropped_packets_total",
                "fwxdp_monitor",
                "instance:fwxdp_dropped_packets:rate5m",
            ]
        );
    }

    #[test]
    fn a_renamed_metric_or_an_unrecorded_name_is_a_problem() {
        let metrics = Metrics::of(ENCODE_SNIPPET).unwrap();
        let recorded = set(&["instance:fwxdp_dropped_packets:rate5m"]);
        let good = "rate(fwxdp_dropped_packets_total[5m]) instance:fwxdp_dropped_packets:rate5m";
        assert_eq!(
            metrics.name_problems("a.yml", good, &recorded),
            Vec::<String>::new()
        );
        let bad = "rate(fwxdp_dropped_packets[5m]) fwxdp_renamed instance:fwxdp_attached:sum";
        assert_eq!(
            metrics.name_problems("a.yml", bad, &recorded),
            [
                format!(
                    "a.yml: fwxdp_dropped_packets is not a metric the exporter defines in \
                     {ENCODE} (the counter's samples are fwxdp_dropped_packets_total)"
                ),
                format!("a.yml: fwxdp_renamed is not a metric the exporter defines in {ENCODE}"),
                format!("a.yml: instance:fwxdp_attached:sum is not a recording rule of {RULES}"),
            ]
        );
        assert_eq!(
            metrics.recorded_problems(&set(&[
                "instance:fwxdp_dropped_packets:rate5m",
                "instance:fwxdp_attached:sum",
                "instance:fwxdp_gone:rate5m",
            ])),
            [format!(
                "{RULES}: instance:fwxdp_gone:rate5m records no metric the exporter defines"
            )]
        );
    }
}
