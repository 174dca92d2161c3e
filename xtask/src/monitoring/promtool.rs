//! The checks promtool makes: the example config, its file discovery, the dashboard's queries.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
    process::Command,
};

use anyhow::{Context as _, Result, ensure};
use serde::Deserialize;
use serde_norway::Value;

use super::{CONFIG, DIR, RULES, TARGETS, dashboard::Query, fail_on, read};

/// Where `prometheus.yml` expects the rules and the targets on a Prometheus server.
const INSTALLED_RULES: &str = "/usr/share/fwxdp/monitoring/fwxdp.rules.yml";
const TARGETS_DIR: &str = "/etc/prometheus/fwxdp-targets/";

/// promtool with `args`, run in `dir`.
pub(super) fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("promtool");
    cmd.current_dir(dir).args(args);
    cmd
}

/// `promtool check config` and `check service-discovery` on `prometheus.yml`.
pub(super) fn check_config(dir: &Path, scratch: &Path) -> Result<()> {
    // check config fails on a rule file that does not exist, and the package's path does
    // not on a build machine: check a copy naming the repository's rules (checking these,
    // not whatever is installed), with the example as the only targets file.
    let targets = scratch.join("targets");
    fs::create_dir_all(&targets).with_context(|| format!("create {}", targets.display()))?;
    fs::copy(dir.join(TARGETS), targets.join(TARGETS)).context("copy the example targets")?;
    // An empty JSON file, so that the `*.json` pattern matches a file as on a server.
    fs::write(targets.join("none.json"), "[]\n").context("write an empty targets file")?;
    let copy = relocated(&read(&dir.join(CONFIG))?, &dir.join(RULES), &targets)?;
    let path = scratch.join(CONFIG);
    fs::write(&path, copy).with_context(|| format!("write {}", path.display()))?;
    let mut check = Command::new("promtool");
    check.args(["check", "config"]).arg(&path);
    crate::step(
        "promtool check config dist/monitoring/prometheus.yml",
        check,
    )?;
    println!("==> promtool check service-discovery (the example targets, relabelled)");
    // File discovery reads the files at once, but promtool waits out the timeout.
    let output = Command::new("promtool")
        .args(["check", "service-discovery", "--timeout=3s"])
        .arg(&path)
        .arg("fwxdp")
        .output()
        .context("cannot start promtool")?;
    // Its log (debug lines on success) matters only when it fails.
    ensure!(
        output.status.success(),
        "promtool check service-discovery failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let targets: Vec<Target> = serde_json::from_slice(&output.stdout)
        .context("read promtool check service-discovery's output")?;
    fail_on(&discovery_problems(&targets))
}

/// `config` (`prometheus.yml`) with its paths on a server replaced: the installed rules by
/// `rules`, the targets directory by `targets`. Fails where it names neither, since the
/// copy would then check what is installed, or nothing.
fn relocated(config: &str, rules: &Path, targets: &Path) -> Result<String> {
    let mut value: Value =
        serde_norway::from_str(config).with_context(|| format!("parse {CONFIG}"))?;
    let mut found = BTreeSet::new();
    for_each_string(&mut value, &mut |text| {
        if text == INSTALLED_RULES {
            *text = rules.to_string_lossy().into_owned();
            found.insert(INSTALLED_RULES);
        } else if let Some(file) = text.strip_prefix(TARGETS_DIR) {
            *text = targets.join(file).to_string_lossy().into_owned();
            found.insert(TARGETS_DIR);
        }
    });
    for expected in [INSTALLED_RULES, TARGETS_DIR] {
        ensure!(
            found.contains(expected),
            "{DIR}/{CONFIG} no longer names {expected}: update xtask/src/monitoring/promtool.rs"
        );
    }
    Ok(serde_norway::to_string(&value)?)
}

fn for_each_string(value: &mut Value, f: &mut impl FnMut(&mut String)) {
    match value {
        Value::String(text) => f(text),
        Value::Sequence(items) => items.iter_mut().for_each(|item| for_each_string(item, f)),
        Value::Mapping(map) => map.values_mut().for_each(|item| for_each_string(item, f)),
        Value::Tagged(tagged) => for_each_string(&mut tagged.value, f),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A target as `promtool check service-discovery` prints it, as much as is checked.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Target {
    #[serde(default)]
    discovered_labels: BTreeMap<String, String>,
    /// After relabelling; none where relabelling dropped the target.
    labels: Option<BTreeMap<String, String>>,
}

/// What is wrong with the targets `promtool check service-discovery` found: none, or one
/// whose `instance` is not its address without the port.
fn discovery_problems(targets: &[Target]) -> Vec<String> {
    if targets.is_empty() {
        return vec![format!("{TARGETS}: no target discovered")];
    }
    let mut problems = Vec::new();
    for target in targets {
        let address = target
            .discovered_labels
            .get("__address__")
            .map_or("", String::as_str);
        let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
        let label = |name: &str| {
            target
                .labels
                .as_ref()
                .and_then(|labels| labels.get(name))
                .map(String::as_str)
        };
        let instance = label("instance").unwrap_or_default();
        if instance != host {
            problems.push(format!(
                "{CONFIG}: target {address} gets instance {instance:?}, not {host:?}"
            ));
        }
        if label("job") != Some("fwxdp") {
            problems.push(format!("{CONFIG}: target {address} is not in job fwxdp"));
        }
    }
    problems
}

/// `promtool check rules` on the dashboard's queries, as recording rules, so that a query
/// Prometheus cannot parse fails here rather than as an empty panel.
pub(super) fn check_queries(queries: &[Query], scratch: &Path) -> Result<()> {
    let path = scratch.join("dashboard.rules.yml");
    fs::write(&path, query_rules(queries)?).with_context(|| format!("write {}", path.display()))?;
    let mut check = Command::new("promtool");
    check.args(["check", "rules"]).arg(&path);
    crate::step("promtool check rules (the dashboard's queries)", check)
}

/// A rule file recording each of `queries`.
fn query_rules(queries: &[Query]) -> Result<String> {
    let rules: Vec<_> = queries
        .iter()
        .enumerate()
        .map(|(index, query)| {
            // Numbered: two panels may share a title.
            let name: String = format!("{index}_{}_{}", query.panel, query.ref_id)
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() {
                        c.to_ascii_lowercase()
                    } else {
                        '_'
                    }
                })
                .collect();
            serde_json::json!({
                "record": format!("dashboard:query_{name}"),
                "expr": promql_of(&query.expr),
            })
        })
        .collect();
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    Ok(serde_norway::to_string(&file)?)
}

/// `expr` with Grafana's variables replaced by what Prometheus can parse: a duration for
/// the interval ones (they stand in ranges), a word for the rest (label matchers' values).
fn promql_of(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, tail) = match after.strip_prefix('{') {
            Some(braced) => braced.split_once('}').unwrap_or((braced, "")),
            None => after.split_at(
                after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len()),
            ),
        };
        out.push_str(if name.starts_with("__") { "5m" } else { "x" });
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grafana_variables_become_promql() {
        assert_eq!(
            promql_of(
                r#"rate(x{instance=~"$instance", i=~"${interface}"}[$__rate_interval]) + increase(y[$__range])"#
            ),
            r#"rate(x{instance=~"x", i=~"x"}[5m]) + increase(y[5m])"#
        );
    }

    #[test]
    fn the_queries_become_recording_rules_whatever_they_quote() {
        let query = |panel: &str, expr: &str| Query {
            panel: panel.into(),
            ref_id: "A".into(),
            expr: expr.into(),
        };
        let text = query_rules(&[
            query(
                "Drops: \"port\"",
                "sum(rate(x{a=\"b\\\\c\"}[$__rate_interval]))\n",
            ),
            query("Drops: \"port\"", "up # 'quoted'"),
        ])
        .unwrap();
        let rules: Value = serde_norway::from_str(&text).unwrap();
        let rules = &rules["groups"][0]["rules"];
        assert_eq!(rules[0]["record"], "dashboard:query_0_drops___port__a");
        assert_eq!(rules[0]["expr"], "sum(rate(x{a=\"b\\\\c\"}[5m]))\n");
        assert_eq!(rules[1]["record"], "dashboard:query_1_drops___port__a");
        assert_eq!(rules[1]["expr"], "up # 'quoted'");
    }

    #[test]
    fn the_config_copy_names_the_repository_s_rules_and_the_scratch_targets() {
        let config = "\
rule_files:
  - /usr/share/fwxdp/monitoring/fwxdp.rules.yml
scrape_configs:
  - job_name: fwxdp
    file_sd_configs:
      - files:
          - /etc/prometheus/fwxdp-targets/*.yml
    relabel_configs:
      - source_labels: [__address__]
        regex: '(.+):\\d+'
        replacement: '$1'
";
        let copy = relocated(config, Path::new("/src/a b/r.yml"), Path::new("/tmp/t")).unwrap();
        let copy: Value = serde_norway::from_str(&copy).unwrap();
        assert_eq!(copy["rule_files"][0], "/src/a b/r.yml");
        let job = &copy["scrape_configs"][0];
        assert_eq!(job["file_sd_configs"][0]["files"][0], "/tmp/t/*.yml");
        assert_eq!(job["relabel_configs"][0]["regex"], "(.+):\\d+");
        assert_eq!(job["relabel_configs"][0]["replacement"], "$1");
        // A path named only in a comment is not one Prometheus reads.
        let moved = config.replace("- /usr/share", "# - /usr/share");
        let error = relocated(&moved, Path::new("r"), Path::new("t")).unwrap_err();
        assert!(error.to_string().contains(INSTALLED_RULES), "{error}");
    }

    #[test]
    fn a_target_must_be_instanced_by_its_host_in_job_fwxdp() {
        let targets: Vec<Target> = serde_json::from_str(
            r#"[
  {"discoveredLabels": {"__address__": "web-1.example.net:9814"},
   "labels": {"instance": "web-1.example.net", "job": "fwxdp"}},
  {"discoveredLabels": {"__address__": "db-1.example.net:9814"},
   "labels": {"instance": "db-1.example.net:9814", "job": "node"}},
  {"discoveredLabels": {"__address__": "gone.example.net:9814"}, "labels": null}
]"#,
        )
        .unwrap();
        assert_eq!(
            discovery_problems(&targets),
            [
                format!(
                    "{CONFIG}: target db-1.example.net:9814 gets instance \
                     \"db-1.example.net:9814\", not \"db-1.example.net\""
                ),
                format!("{CONFIG}: target db-1.example.net:9814 is not in job fwxdp"),
                format!(
                    "{CONFIG}: target gone.example.net:9814 gets instance \"\", not \
                     \"gone.example.net\""
                ),
                format!("{CONFIG}: target gone.example.net:9814 is not in job fwxdp"),
            ]
        );
        assert_eq!(
            discovery_problems(&[]),
            [format!("{TARGETS}: no target discovered")]
        );
    }
}
