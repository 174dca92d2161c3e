//! The alerts and their promtool tests, read as YAML: every alert complete and tested both ways.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::{Deserialize, de::IgnoredAny};

use super::{RULES, TESTS};

/// A Prometheus rule file, as much as these checks read.
#[derive(Debug, Deserialize)]
pub(super) struct RuleFile {
    groups: Vec<Group>,
}

#[derive(Debug, Deserialize)]
struct Group {
    #[serde(default)]
    rules: Vec<Rule>,
}

/// A recording rule (`record`) or an alert (`alert`); promtool refuses both or neither.
#[derive(Debug, Deserialize)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    #[serde(rename = "for")]
    pending: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

impl RuleFile {
    pub(super) fn parse(text: &str) -> Result<Self> {
        Ok(serde_norway::from_str(text)?)
    }

    fn rules(&self) -> impl Iterator<Item = &Rule> {
        self.groups.iter().flat_map(|group| &group.rules)
    }

    /// The names the rules record.
    pub(super) fn recorded(&self) -> BTreeSet<String> {
        self.rules()
            .filter_map(|rule| rule.record.clone())
            .collect()
    }
}

/// A `promtool test rules` file, as much as these checks read.
#[derive(Debug, Deserialize)]
pub(super) struct TestFile {
    #[serde(default)]
    tests: Vec<Test>,
}

#[derive(Debug, Deserialize)]
struct Test {
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
}

#[derive(Debug, Deserialize)]
struct AlertTest {
    alertname: String,
    /// Absent or null, promtool expects no alert, as with `[]`.
    exp_alerts: Option<Vec<IgnoredAny>>,
}

impl TestFile {
    pub(super) fn parse(text: &str) -> Result<Self> {
        Ok(serde_norway::from_str(text)?)
    }
}

/// Alerts of `rules` without `for`, a severity label, a summary or a description
/// annotation; alerts that `tests` does not check both firing and not firing; and tests of
/// alerts the rules do not define, which pass without testing anything when they expect
/// none.
pub(super) fn problems(rules: &RuleFile, tests: &TestFile) -> Vec<String> {
    let (mut firing, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for test in tests.tests.iter().flat_map(|test| &test.alert_rule_test) {
        let tested = if test.exp_alerts.as_ref().is_some_and(|a| !a.is_empty()) {
            &mut firing
        } else {
            &mut silent
        };
        tested.insert(test.alertname.as_str());
    }
    let mut problems = Vec::new();
    let mut alerts = BTreeSet::new();
    for rule in rules.rules() {
        let Some(name) = rule.alert.as_deref() else {
            continue;
        };
        alerts.insert(name);
        for (key, value) in [
            ("for", rule.pending.as_ref()),
            ("severity", rule.labels.get("severity")),
            ("summary", rule.annotations.get("summary")),
            ("description", rule.annotations.get("description")),
        ] {
            if value.is_none_or(|v| v.trim().is_empty()) {
                problems.push(format!("{RULES}: alert {name} has no {key}"));
            }
        }
        for (tested, how) in [(&firing, "firing"), (&silent, "not firing")] {
            if !tested.contains(name) {
                problems.push(format!("{TESTS}: no test of {name} {how}"));
            }
        }
    }
    if alerts.is_empty() {
        problems.push(format!("{RULES}: no alert"));
    }
    for name in firing.union(&silent).filter(|name| !alerts.contains(*name)) {
        problems.push(format!(
            "{TESTS}: tests {name}, which is no alert of {RULES}"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(rules: &str, tests: &str) -> Vec<String> {
        problems(
            &RuleFile::parse(rules).unwrap(),
            &TestFile::parse(tests).unwrap(),
        )
    }

    #[test]
    fn every_alert_needs_its_fields_and_a_test_firing_and_one_not() {
        let rules = "\
groups:
  - name: fwxdp
    rules:
      - record: r:fwxdp_a:rate5m
        expr: rate(fwxdp_a_total[5m])
      - alert: Tested
        expr: fwxdp_a == 1
        for: 5m
        labels:
          severity: warning
        annotations:
          summary: s
          description: d
      - alert: HalfTested
        expr: fwxdp_a == 2
        labels:
          severity: warning
        annotations:
          summary: s
          description: d
      - record: r:fwxdp_b:rate5m
        expr: 'for: this is not the alert''s'
";
        let tests = "\
tests:
  - interval: 1m
    alert_rule_test:
      - eval_time: 1m
        alertname: Tested
        exp_alerts: []
      - eval_time: 10m
        alertname: Tested
        exp_alerts:
          - exp_labels:
              severity: warning
      - eval_time: 10m
        alertname: HalfTested
        exp_alerts:
          - exp_labels:
              severity: warning
";
        assert_eq!(
            problems_of(rules, tests),
            [
                format!("{RULES}: alert HalfTested has no for"),
                format!("{TESTS}: no test of HalfTested not firing"),
            ]
        );
        assert_eq!(
            RuleFile::parse(rules).unwrap().recorded(),
            ["r:fwxdp_a:rate5m", "r:fwxdp_b:rate5m"]
                .map(str::to_owned)
                .into()
        );
    }

    /// What a scan of lines took for the fields: a key of the wrong map, a word in a
    /// text, an empty value; and rules in another group or in flow style.
    #[test]
    fn fields_count_only_where_prometheus_reads_them() {
        let rules = r#"
groups:
  - name: a
    rules:
      - alert: Misplaced
        expr: up == 0
        labels:
          summary: s
        annotations:
          severity: warning
          description: "for: 5m"
  - name: b
    rules:
      - {alert: Flow, expr: up == 0, for: 1m, labels: {severity: info},
         annotations: {summary: s, description: ""}}
"#;
        let tests = "
tests:
  - alert_rule_test:
      - {alertname: Misplaced, exp_alerts: [{}]}
      - {alertname: Misplaced, exp_alerts: []}
      - {alertname: Flow, exp_alerts: [{exp_labels: {severity: info}}]}
      - {alertname: Flow, exp_alerts: []}
";
        assert_eq!(
            problems_of(rules, tests),
            [
                format!("{RULES}: alert Misplaced has no for"),
                format!("{RULES}: alert Misplaced has no severity"),
                format!("{RULES}: alert Misplaced has no summary"),
                format!("{RULES}: alert Flow has no description"),
            ]
        );
    }

    /// promtool expects no alert where `exp_alerts` is absent or null; a line scan paired
    /// such a test's alertname with the next test's `exp_alerts`.
    #[test]
    fn a_test_without_exp_alerts_tests_the_alert_not_firing() {
        let rules = "
groups:
  - name: a
    rules:
      - alert: A
        expr: up == 0
        for: 1m
        labels: {severity: info}
        annotations: {summary: s, description: d}
      - alert: B
        expr: up == 1
        for: 1m
        labels: {severity: info}
        annotations: {summary: s, description: d}
";
        let tests = "
tests:
  - alert_rule_test:
      - alertname: A
        eval_time: 1m
      - alertname: B
        exp_alerts:
      - alertname: A
        exp_alerts: [{}]
";
        assert_eq!(
            problems_of(rules, tests),
            [format!("{TESTS}: no test of B firing")]
        );
    }

    #[test]
    fn no_alert_and_a_test_of_an_unknown_alert_are_problems() {
        let rules = "groups: [{name: a, rules: [{record: 'r:fwxdp_a:sum', expr: 'sum(fwxdp_a)'}]}]";
        let tests = "tests: [{alert_rule_test: [{alertname: Gone, exp_alerts: []}]}]";
        assert_eq!(
            problems_of(rules, tests),
            [
                format!("{RULES}: no alert"),
                format!("{TESTS}: tests Gone, which is no alert of {RULES}"),
            ]
        );
    }

    #[test]
    fn refuses_files_of_another_shape_saying_where() {
        let error = RuleFile::parse("groups:\n  - name: a\n    rules: 3\n").unwrap_err();
        assert!(error.to_string().contains("line 3"), "{error}");
        assert!(RuleFile::parse("rules: []").is_err());
        let error =
            TestFile::parse("tests:\n  - alert_rule_test:\n      - eval_time: 1m\n").unwrap_err();
        assert!(error.to_string().contains("alertname"), "{error}");
    }
}
