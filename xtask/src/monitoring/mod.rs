//! Checks `dist/monitoring`: a renamed metric or an untested alert fails here, not in a fleet.

mod alerts;
mod dashboard;
mod names;
mod promtool;

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

const DIR: &str = "dist/monitoring";
const RULES: &str = "fwxdp.rules.yml";
const TESTS: &str = "fwxdp.rules.test.yml";
const CONFIG: &str = "prometheus.yml";
const TARGETS: &str = "fwxdp-targets.example.yml";
const DASHBOARD: &str = "grafana-dashboard.json";
const README: &str = "README.md";
/// Where the exporter names its metric families.
const ENCODE: &str = "fwxdp/src/metrics/encode.rs";

/// Runs every check of `dist/monitoring`: promtool on the rules and their tests; the
/// dashboard's shape, that every alert is tested firing and not, and that every fwxdp
/// metric the files name is the exporter's; promtool on the example config and the
/// dashboard's queries.
pub(crate) fn check() -> Result<()> {
    let root = crate::workspace_root();
    let dir = root.join(DIR);
    crate::step(
        "promtool check rules dist/monitoring/fwxdp.rules.yml",
        promtool::command(&dir, &["check", "rules", RULES]),
    )?;
    crate::step(
        "promtool test rules dist/monitoring/fwxdp.rules.test.yml",
        promtool::command(&dir, &["test", "rules", TESTS]),
    )?;
    println!("==> dist/monitoring: dashboard, alert tests, metric names");
    let queries = static_checks(&root)?;
    with_scratch(|scratch| {
        promtool::check_config(&dir, scratch)?;
        promtool::check_queries(&queries, scratch)
    })
}

/// The checks that need no promtool: the dashboard's shape, the alerts' tests and fields,
/// and the metric names. Returns the dashboard's queries.
fn static_checks(root: &Path) -> Result<Vec<dashboard::Query>> {
    let metrics = names::Metrics::of(&read(&root.join(ENCODE))?)?;
    let dir = root.join(DIR);
    let rules_text = read(&dir.join(RULES))?;
    let tests_text = read(&dir.join(TESTS))?;
    let dashboard_text = read(&dir.join(DASHBOARD))?;
    let readme = read(&dir.join(README))?;
    let rules = alerts::RuleFile::parse(&rules_text).with_context(|| format!("parse {RULES}"))?;
    let tests = alerts::TestFile::parse(&tests_text).with_context(|| format!("parse {TESTS}"))?;
    let dashboard =
        serde_json::from_str(&dashboard_text).with_context(|| format!("parse {DASHBOARD}"))?;
    let (queries, mut problems) = dashboard::problems(&dashboard);
    problems.extend(alerts::problems(&rules, &tests));
    let recorded = rules.recorded();
    problems.extend(metrics.recorded_problems(&recorded));
    // The raw text, comments included: a comment naming a renamed metric misleads too.
    for (file, text) in [
        (RULES, &rules_text),
        (TESTS, &tests_text),
        (DASHBOARD, &dashboard_text),
        (README, &readme),
    ] {
        problems.extend(metrics.name_problems(file, text, &recorded));
    }
    fail_on(&problems)?;
    Ok(queries)
}

/// Runs `f` with a fresh temporary directory, removed afterwards.
fn with_scratch<T>(f: impl FnOnce(&Path) -> Result<T>) -> Result<T> {
    let dir = std::env::temp_dir().join(format!("fwxdp-monitoring-{}", std::process::id()));
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    let result = f(&dir);
    // A directory left behind is harmless; the verdict is what matters.
    let _: std::io::Result<()> = fs::remove_dir_all(&dir);
    result
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("read {}", path.display()))
}

fn fail_on(problems: &[String]) -> Result<()> {
    if problems.is_empty() {
        Ok(())
    } else {
        bail!("{DIR}:\n  {}", problems.join("\n  "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_files_pass() {
        let queries = static_checks(&crate::workspace_root()).unwrap();
        assert!(queries.iter().any(|q| q.expr.contains("fwxdp_attached")));
    }
}
