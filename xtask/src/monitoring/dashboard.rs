//! The Grafana dashboard's shape: what an import needs, and panels that each show a query.

use std::collections::BTreeSet;

use serde_json::Value;

use super::DASHBOARD;

/// The columns of Grafana's grid.
const GRID_WIDTH: f64 = 24.0;

/// A dashboard query, named after its panel.
#[derive(Debug, PartialEq)]
pub(super) struct Query {
    pub(super) panel: String,
    pub(super) ref_id: String,
    pub(super) expr: String,
}

/// The queries of the dashboard `d`, and what is wrong with it: no uid, title or
/// datasource variable, a panel without a title or a place on the grid, one (other than a
/// row) without a query, a query without `expr` or a unique `refId`.
pub(super) fn problems(d: &Value) -> (Vec<Query>, Vec<String>) {
    let mut problems = Vec::new();
    for key in ["uid", "title"] {
        if d.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            problems.push(format!("{DASHBOARD}: no {key}"));
        }
    }
    if !d.get("schemaVersion").is_some_and(Value::is_number) {
        problems.push(format!("{DASHBOARD}: no schemaVersion"));
    }
    // The import then asks which Prometheus to use.
    if !array(d.pointer("/templating/list"))
        .iter()
        .any(|v| v.get("type").and_then(Value::as_str) == Some("datasource"))
    {
        problems.push(format!("{DASHBOARD}: no datasource variable"));
    }
    let mut queries = Vec::new();
    match array(d.get("panels")) {
        [] => problems.push(format!("{DASHBOARD}: no panels")),
        panels => {
            for panel in panels {
                panel_problems(panel, &mut queries, &mut problems);
            }
        }
    }
    (queries, problems)
}

/// The items of `value`, none where it is absent or no array.
fn array(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn panel_problems(panel: &Value, queries: &mut Vec<Query>, problems: &mut Vec<String>) {
    let title = panel
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let id = panel
        .get("id")
        .filter(|id| id.is_number())
        .map_or_else(|| "?".to_owned(), Value::to_string);
    let name = title.map_or_else(|| format!("panel {id}"), |t| format!("panel {t:?}"));
    if title.is_none() {
        problems.push(format!("{DASHBOARD}: {name} has no title"));
    }
    let grid: Vec<Option<f64>> = ["x", "y", "w", "h"]
        .iter()
        .map(|key| {
            panel
                .get("gridPos")
                .and_then(|g| g.get(key))
                .and_then(Value::as_f64)
        })
        .collect();
    match grid[..] {
        [Some(x), Some(y), Some(w), Some(h)]
            if x >= 0.0 && y >= 0.0 && w >= 1.0 && h >= 1.0 && x + w <= GRID_WIDTH => {}
        _ => problems.push(format!(
            "{DASHBOARD}: {name} has no gridPos within the grid's 24 columns"
        )),
    }
    if panel.get("type").and_then(Value::as_str) == Some("row") {
        // A row queries nothing; a collapsed one holds its panels.
        for inner in array(panel.get("panels")) {
            panel_problems(inner, queries, problems);
        }
        return;
    }
    let targets = array(panel.get("targets"));
    if targets.is_empty() {
        problems.push(format!("{DASHBOARD}: {name} has no target"));
    }
    let mut ref_ids = BTreeSet::new();
    for target in targets {
        let ref_id = target
            .get("refId")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if ref_id.is_empty() || !ref_ids.insert(ref_id) {
            problems.push(format!(
                "{DASHBOARD}: {name} has a target without a refId of its own"
            ));
        }
        match target.get("expr").and_then(Value::as_str) {
            Some(expr) if !expr.trim().is_empty() => queries.push(Query {
                panel: title.unwrap_or(&id).to_owned(),
                ref_id: ref_id.to_owned(),
                expr: expr.to_owned(),
            }),
            _ => problems.push(format!(
                "{DASHBOARD}: {name}, target {ref_id:?} has no expr"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_a_dashboard_lacks() {
        let dashboard: Value = serde_json::from_str(
            r#"{
  "uid": "fwxdp", "title": "fwxdp", "schemaVersion": 39,
  "templating": {"list": [{"name": "datasource", "type": "datasource"}]},
  "panels": [
    {"id": 1, "type": "row", "title": "Fleet", "gridPos": {"x": 0, "y": 0, "w": 24, "h": 1},
     "panels": [{"id": 5, "type": "stat", "title": "Inner", "gridPos": {"x": 0, "y": 1, "w": 4, "h": 4},
                 "targets": [{"refId": "A", "expr": "fwxdp_monitor"}]}]},
    {"id": 2, "type": "stat", "title": "Good", "gridPos": {"x": 0, "y": 1, "w": 4, "h": 4},
     "targets": [{"refId": "A", "expr": "fwxdp_attached"}, {"refId": "B", "expr": "up"}]},
    {"id": 3, "type": "stat", "gridPos": {"x": 20, "y": 1, "w": 8, "h": 4},
     "targets": [{"refId": "A", "expr": "up"}, {"refId": "A", "expr": " "}]},
    {"id": 4, "type": "timeseries", "title": "Empty", "targets": []}
  ]
}"#,
        )
        .unwrap();
        let (queries, problems) = problems(&dashboard);
        let exprs: Vec<_> = queries.iter().map(|q| q.expr.as_str()).collect();
        assert_eq!(exprs, ["fwxdp_monitor", "fwxdp_attached", "up", "up"]);
        assert_eq!(
            queries[1],
            Query {
                panel: "Good".into(),
                ref_id: "A".into(),
                expr: "fwxdp_attached".into()
            }
        );
        assert_eq!(
            problems,
            [
                format!("{DASHBOARD}: panel 3 has no title"),
                format!("{DASHBOARD}: panel 3 has no gridPos within the grid's 24 columns"),
                format!("{DASHBOARD}: panel 3 has a target without a refId of its own"),
                format!("{DASHBOARD}: panel 3, target \"A\" has no expr"),
                format!("{DASHBOARD}: panel \"Empty\" has no gridPos within the grid's 24 columns"),
                format!("{DASHBOARD}: panel \"Empty\" has no target"),
            ]
        );
        let (_, problems) = super::problems(&serde_json::json!({"panels": []}));
        assert_eq!(
            problems,
            [
                format!("{DASHBOARD}: no uid"),
                format!("{DASHBOARD}: no title"),
                format!("{DASHBOARD}: no schemaVersion"),
                format!("{DASHBOARD}: no datasource variable"),
                format!("{DASHBOARD}: no panels"),
            ]
        );
    }

    /// Fields of the wrong type count as missing rather than failing the parse.
    #[test]
    fn fields_of_the_wrong_type_are_missing() {
        let dashboard = serde_json::json!({
            "uid": 7, "title": "fwxdp", "schemaVersion": "39", "templating": {"list": {}},
            "panels": [{"id": "x", "title": "T", "gridPos": {"x": "0", "y": 0, "w": 4, "h": 4},
                        "targets": {"refId": "A"}}]
        });
        let (queries, problems) = problems(&dashboard);
        assert!(queries.is_empty());
        assert_eq!(
            problems,
            [
                format!("{DASHBOARD}: no uid"),
                format!("{DASHBOARD}: no schemaVersion"),
                format!("{DASHBOARD}: no datasource variable"),
                format!("{DASHBOARD}: panel \"T\" has no gridPos within the grid's 24 columns"),
                format!("{DASHBOARD}: panel \"T\" has no target"),
            ]
        );
    }
}
