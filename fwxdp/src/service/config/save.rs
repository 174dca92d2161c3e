//! The running state written as a config file that `fwxdp run` restores exactly (`fwxdp
//! save`, as `netfilter-persistent save`). An existing file is edited rather than replaced:
//! its comments, its `[metrics]` table and every `[[interface]]` that already says what
//! runs are kept as they are.

use std::collections::BTreeSet;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, Value, value};

use super::{InterfaceConfig, Problem, ServiceConfig, parse};
use crate::{mode::AttachMode, state::Running};

/// Whether `table`, as the one covering the interface `r`, attaches it as it runs now.
#[must_use]
pub fn fits(r: &Running, table: &InterfaceConfig) -> bool {
    table.policy == r.policy
        && table.monitor == r.monitor
        && table.log_rate == r.log_rate
        && mode_fits(table.mode, r.mode)
}

/// Whether a table's `mode` attaches an interface in the mode `running` has. An `auto` in
/// force is a mode the pins could not say: only `auto` (or none) says it again.
#[must_use]
pub fn mode_fits(mode: Option<AttachMode>, running: AttachMode) -> bool {
    match running {
        AttachMode::Auto => matches!(mode, None | Some(AttachMode::Auto)),
        running => mode.unwrap_or_default().accepts(running),
    }
}

/// Whether `a` and `b` run with the same settings, so one table can cover both.
fn same_settings(a: &Running, b: &Running) -> bool {
    a.policy == b.policy && a.mode == b.mode && a.monitor == b.monitor && a.log_rate == b.log_rate
}

/// The file to write, and what the operator should know about it.
#[derive(Debug)]
pub struct Saved {
    pub text: String,
    /// Lines such as "eth2 is not attached, but pattern eth* covers it".
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    /// The file to update is not a valid config: editing it would keep what is wrong.
    #[error("the file to update is not a valid config, so it is left alone: {}", lines(.0))]
    Existing(Vec<Problem>),
    /// The text would be larger than the service reads.
    #[error(
        "the config would be {0} bytes, more than the {max} a config file may be: merge items \
         into ranges or networks first",
        max = super::MAX_FILE_BYTES
    )]
    TooLarge(usize),
    /// The text written would not restore the running state: a bug, and nothing is written.
    #[error("the config built would not restore the running state ({0}); nothing was written")]
    Mismatch(String),
}

fn lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            Some(line) => format!("line {line}: {}", p.message),
            None => p.message.clone(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The config that restores `running`, built from `existing` (the file's text, if there is
/// one). `present` names the interfaces this host has now: a name the file lists that is
/// present but not attached is taken out, since `fwxdp run` would filter it; one that is
/// absent stays, for when it appears.
///
/// # Errors
/// When `existing` is not a valid config, or (a bug) the result would not restore
/// `running`.
pub fn save(
    existing: Option<&str>,
    running: &[Running],
    present: &[String],
) -> Result<Saved, SaveError> {
    let text = existing.unwrap_or("");
    let config = match existing {
        Some(text) => Some(parse(text).map_err(SaveError::Existing)?),
        None => None,
    };
    // A valid config is valid TOML.
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| SaveError::Existing(vec![problem(e.to_string())]))?;
    if existing.is_none() {
        doc.decor_mut().set_prefix(
            "# Written by `fwxdp save` from the running state; `fwxdp run` restores it.\n\
             # Each [[interface]] covers the interfaces `name` lists (patterns too); the\n\
             # first that matches wins.\n\n",
        );
    }
    let mut tables = take_tables(&mut doc);
    let mut notes = Vec::new();
    if let Some(config) = &config {
        fit_tables(config, &mut tables, running);
    }
    prune_names(&mut tables, running, present);
    append_uncovered(&mut tables, running);
    order(&mut doc, &mut tables);
    if tables.is_empty() {
        doc.insert("filter_nothing", value(true));
    } else {
        doc.remove("filter_nothing");
        doc.insert("interface", Item::ArrayOfTables(tables));
    }
    let mut text = doc.to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    if text.len() as u64 > super::MAX_FILE_BYTES {
        return Err(SaveError::TooLarge(text.len()));
    }
    let written = parse(&text).map_err(|p| SaveError::Mismatch(lines(&p)))?;
    for r in running {
        match written.rule_for(&r.name) {
            Some(table) if fits(r, table) => {}
            _ => return Err(SaveError::Mismatch(format!("{} would differ", r.name))),
        }
    }
    let attached: BTreeSet<&str> = running.iter().map(|r| r.name.as_str()).collect();
    for name in present.iter().filter(|n| !attached.contains(n.as_str())) {
        if let Some(table) = written.rule_for(name) {
            notes.push(format!(
                "{name} is not attached, but [[interface]] {} covers it: `fwxdp run` would \
                 filter it",
                table.label()
            ));
        }
    }
    Ok(Saved { text, notes })
}

fn problem(message: String) -> Problem {
    Problem {
        line: None,
        message,
    }
}

/// Gives the tables consecutive positions where the file's first one was, moving the
/// file's other tables after them along: `toml_edit` prints tables by position, and one
/// inserted without a position would take its neighbour's, which can print it after a
/// table that must come later (first match wins).
fn order(doc: &mut DocumentMut, tables: &mut ArrayOfTables) {
    let Some(start) = tables.iter().filter_map(Table::position).min() else {
        for table in tables.iter_mut() {
            table.set_position(None);
        }
        return;
    };
    let count = isize::try_from(tables.len()).unwrap_or(isize::MAX);
    for (_, item) in doc.as_table_mut().iter_mut() {
        if let Some(other) = item.as_table_mut()
            && let Some(at) = other.position()
            && at >= start
        {
            other.set_position(Some(at.saturating_add(count)));
        }
    }
    for (offset, table) in (0..).zip(tables.iter_mut()) {
        table.set_position(Some(start.saturating_add(offset)));
    }
}

/// The file's `[[interface]]` tables, taken out of `doc` (an inline `interface = [{...}]`
/// becomes tables).
fn take_tables(doc: &mut DocumentMut) -> ArrayOfTables {
    match doc.remove("interface") {
        Some(Item::ArrayOfTables(tables)) => tables,
        Some(Item::Value(Value::Array(inline))) => {
            let mut tables = ArrayOfTables::new();
            for v in inline {
                if let Value::InlineTable(t) = v {
                    tables.push(t.into_table());
                }
            }
            tables
        }
        // A valid config has no other shape of `interface`.
        _ => ArrayOfTables::new(),
    }
}

/// Makes every table say what runs on the interfaces it covers first: a table that already
/// does is kept; one whose interfaces all run alike is rewritten; otherwise each interface
/// that runs differently gets a table of its own just before it.
fn fit_tables(config: &ServiceConfig, tables: &mut ArrayOfTables, running: &[Running]) {
    // Backwards, so that insertions leave the earlier indices alone.
    for index in (0..config.interfaces.len()).rev() {
        let rule = &config.interfaces[index];
        let covered: Vec<&Running> = running
            .iter()
            .filter(|r| {
                config
                    .interfaces
                    .iter()
                    .position(|t| t.matches(&r.name))
                    .is_some_and(|first| first == index)
            })
            .collect();
        let misfits: Vec<&Running> = covered.iter().copied().filter(|r| !fits(r, rule)).collect();
        let Some(&first) = misfits.first() else {
            continue;
        };
        let Some(table) = tables.get_mut(index) else {
            continue;
        };
        if misfits.len() == covered.len() && misfits.iter().all(|r| same_settings(r, first)) {
            write_settings(table, first, rule.mode);
            continue;
        }
        let mut own = Vec::new();
        for r in misfits {
            remove_name(table, &r.name);
            own.push(new_table(std::slice::from_ref(&r.name), r));
        }
        for t in own.into_iter().rev() {
            tables.insert(index, t);
        }
    }
    tables.retain(|t| !names_of(t).is_empty());
}

/// Takes out of the tables the names of interfaces that are present and not attached.
fn prune_names(tables: &mut ArrayOfTables, running: &[Running], present: &[String]) {
    for name in present {
        if running.iter().all(|r| &r.name != name) {
            for table in tables.iter_mut() {
                remove_name(table, name);
            }
        }
    }
    tables.retain(|t| !names_of(t).is_empty());
}

/// One new table for each group of attached interfaces that no table covers and that run
/// alike.
fn append_uncovered(tables: &mut ArrayOfTables, running: &[Running]) {
    let covers = |tables: &ArrayOfTables, name: &str| {
        tables.iter().any(|t| {
            names_of(t)
                .iter()
                .any(|n| super::NamePattern::parse(n).is_ok_and(|p| p.matches(name)))
        })
    };
    let mut groups: Vec<Vec<&Running>> = Vec::new();
    for r in running.iter().filter(|r| !covers(tables, &r.name)) {
        match groups.iter_mut().find(|g| same_settings(g[0], r)) {
            Some(group) => group.push(r),
            None => groups.push(vec![r]),
        }
    }
    for group in groups {
        let names: Vec<String> = group.iter().map(|r| r.name.clone()).collect();
        tables.push(new_table(&names, group[0]));
    }
}

/// The names and patterns a table lists.
fn names_of(table: &Table) -> Vec<String> {
    match table.get("name").and_then(Item::as_value) {
        Some(Value::String(one)) => vec![one.value().clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Takes the very name `name` (not a pattern that matches it) out of a table's `name`.
fn remove_name(table: &mut Table, name: &str) {
    match table.get_mut("name").and_then(Item::as_value_mut) {
        Some(Value::String(one)) if one.value() == name => {
            table.remove("name");
        }
        Some(Value::Array(many)) => many.retain(|v| v.as_str() != Some(name)),
        _ => {}
    }
}

fn new_table(names: &[String], r: &Running) -> Table {
    let mut table = Table::new();
    table.insert(
        "name",
        match names {
            [one] => value(one.as_str()),
            many => value(many.iter().map(String::as_str).collect::<Array>()),
        },
    );
    write_settings(&mut table, r, None);
    // Native XDP is what `auto` picks wherever it can, and falls back to generic where a
    // new NIC or driver cannot: a boot with `native` written would leave such a device
    // unfiltered. Generic and tc were chosen, and stay chosen.
    if matches!(r.mode, AttachMode::Generic | AttachMode::Tc) {
        table.insert("mode", value(r.mode.name()));
    }
    table
}

/// Writes what `r` runs with into `table`, keeping its names, comments and `close_ssh`;
/// `mode` is the table's own, kept when it attaches `r` as it runs.
fn write_settings(table: &mut Table, r: &Running, mode: Option<AttachMode>) {
    let allow = r.policy.to_specs();
    let limits = r.policy.limit_specs();
    table.insert("allow", value(array(&allow)));
    if limits.is_empty() {
        table.remove("limit");
    } else {
        table.insert("limit", value(array(&limits)));
    }
    if allow.is_empty() {
        table.insert("allow_nothing", value(true));
    } else {
        table.remove("allow_nothing");
    }
    if !mode_fits(mode, r.mode) {
        table.insert("mode", value(r.mode.name()));
    }
    if r.monitor {
        table.insert("monitor", value(true));
    } else {
        table.remove("monitor");
    }
    if r.log_rate == fwxdp_common::LOG_RATE_DEFAULT {
        table.remove("log_rate");
    } else {
        table.insert("log_rate", value(i64::from(r.log_rate)));
    }
}

/// A string array, one item a line when there are many.
fn array(items: &[String]) -> Array {
    let mut array: Array = items.iter().map(String::as_str).collect();
    if items.len() > 6 {
        for v in array.iter_mut() {
            v.decor_mut().set_prefix("\n    ");
        }
        array.set_trailing(",\n");
        array.set_trailing_comma(false);
    }
    array
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn running(name: &str, allow: &[&str], mode: AttachMode) -> Running {
        Running {
            name: name.to_owned(),
            policy: Policy::parse(allow).expect("valid"),
            mode,
            monitor: false,
            log_rate: fwxdp_common::LOG_RATE_DEFAULT,
        }
    }

    fn restored(text: &str, r: &Running) -> bool {
        let config = parse(text).expect("valid");
        config.rule_for(&r.name).is_some_and(|t| fits(r, t))
    }

    #[test]
    fn a_fresh_file_restores_every_interface() {
        let mut limited = running("eth1", &["80"], AttachMode::Tc);
        limited.policy =
            Policy::parse_with_limits(&["80,5432@10.0.0.0/8"], &["22/tcp=4/60s"]).expect("valid");
        limited.monitor = true;
        limited.log_rate = 0;
        let all = [
            running("eth0", &["22,80,443"], AttachMode::Native),
            limited,
            running("eth2", &["22,80,443"], AttachMode::Native),
        ];
        let saved = save(None, &all, &[]).expect("saved");
        for r in &all {
            assert!(restored(&saved.text, r), "{}\n{}", r.name, saved.text);
        }
        // eth0 and eth2 run alike: one table.
        assert_eq!(parse(&saved.text).expect("valid").interfaces.len(), 2);
        assert!(saved.text.starts_with("# Written by `fwxdp save`"));
    }

    #[test]
    fn an_existing_file_keeps_its_comments_and_what_already_fits() {
        let existing = "# our servers\n[metrics]\nlisten = \"127.0.0.1:9900\"\n\n\
                        # public side\n[[interface]]\nname = [\"eth*\"]  # all of them\n\
                        allow = [\"22\", \"80\"]\nclose_ssh = true\n\n\
                        [[interface]]\nname = \"wg0\"\nallow = [\"51820/udp\"]\n";
        let all = [
            running("eth0", &["22,80"], AttachMode::Generic),
            running("eth1", &["22,80,8000/tcp"], AttachMode::Native),
            running("wg0", &["51820/udp,22"], AttachMode::Native),
        ];
        let saved = save(Some(existing), &all, &[]).expect("saved");
        for r in &all {
            assert!(restored(&saved.text, r), "{}\n{}", r.name, saved.text);
        }
        for kept in [
            "# our servers",
            "# public side",
            "listen = \"127.0.0.1:9900\"",
            "close_ssh = true",
        ] {
            assert!(saved.text.contains(kept), "{kept}\n{}", saved.text);
        }
        let config = parse(&saved.text).expect("valid");
        // eth1 got a table of its own before eth*, which still covers eth0 as it was.
        assert_eq!(config.interfaces[0].label(), "eth1");
        assert_eq!(config.interfaces[1].label(), "eth*");
        // wg0's table was rewritten in place.
        assert_eq!(config.interfaces[2].label(), "wg0");
        assert_eq!(config.interfaces.len(), 3);
    }

    #[test]
    fn names_of_present_interfaces_not_attached_go_absent_ones_stay() {
        let existing = "[[interface]]\nname = [\"eth0\", \"eth1\", \"vxlan9\"]\nallow = [\"22\"]\n\
                        [[interface]]\nname = \"eth2\"\nallow = [\"22\"]\n\
                        [[interface]]\nname = \"en*\"\nallow = [\"22\"]\n";
        let all = [running("eth0", &["22"], AttachMode::Native)];
        let present = ["eth0", "eth1", "eth2", "enp1s0"].map(str::to_owned);
        let saved = save(Some(existing), &all, &present).expect("saved");
        let config = parse(&saved.text).expect("valid");
        assert!(config.rule_for("eth1").is_none() && config.rule_for("eth2").is_none());
        assert!(
            config.rule_for("vxlan9").is_some(),
            "absent: kept for later"
        );
        assert_eq!(saved.notes.len(), 1, "{:?}", saved.notes);
        assert!(saved.notes[0].contains("enp1s0"), "{:?}", saved.notes);
    }

    #[test]
    fn nothing_attached_is_said_and_a_bad_file_is_left_alone() {
        let saved = save(None, &[], &[]).expect("saved");
        assert!(parse(&saved.text).expect("valid").interfaces.is_empty());
        let empty = running("eth0", &[], AttachMode::Tc);
        let empty = Running {
            policy: Policy::deny_all(),
            ..empty
        };
        let saved = save(None, std::slice::from_ref(&empty), &[]).expect("saved");
        assert!(restored(&saved.text, &empty), "{}", saved.text);
        assert!(matches!(
            save(
                Some("[[interface]]\nname = \"eth0\"\nallow = [\"0\"]\n"),
                &[],
                &[]
            ),
            Err(SaveError::Existing(_))
        ));
    }

    #[test]
    fn metrics_after_the_tables_does_not_reorder_them() {
        let existing = "[[interface]]\nname = \"eth*\"\nallow = [\"22\"]\n\n\
                        [metrics]\nlisten = \"127.0.0.1:9814\"\n";
        let all = [
            running("eth0", &["22"], AttachMode::Native),
            running("eth1", &["22,80"], AttachMode::Native),
        ];
        let saved = save(Some(existing), &all, &[]).expect("saved");
        for r in &all {
            assert!(restored(&saved.text, r), "{}\n{}", r.name, saved.text);
        }
        assert!(saved.text.contains("127.0.0.1:9814"));
    }

    #[test]
    fn native_is_written_as_auto_and_an_unknown_mode_saves() {
        let native = running("eth0", &["22"], AttachMode::Native);
        let saved = save(None, std::slice::from_ref(&native), &[]).expect("saved");
        assert!(!saved.text.contains("mode"), "{}", saved.text);
        let generic = running("eth0", &["22"], AttachMode::Generic);
        let saved = save(None, std::slice::from_ref(&generic), &[]).expect("saved");
        assert!(saved.text.contains("mode = \"generic\""), "{}", saved.text);
        let unknown = running("eth0", &["22"], AttachMode::Auto);
        let saved = save(
            Some("[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\nmode = \"tc\"\n"),
            std::slice::from_ref(&unknown),
            &[],
        )
        .expect("saved");
        assert!(restored(&saved.text, &unknown), "{}", saved.text);
    }

    #[test]
    fn a_config_larger_than_the_service_reads_is_refused() {
        // Three interfaces of 8,000 distinct networks each: about 1.4 MB of items.
        let all: Vec<Running> = (0..3u32)
            .map(|i| {
                let items: Vec<String> = (1..=8_000u32)
                    .map(|p| {
                        format!(
                            "{}/udplite@2001:db8:1111:2222:3333:{i:x}:5555:{p:x}/128",
                            p + i
                        )
                    })
                    .collect();
                let refs: Vec<&str> = items.iter().map(String::as_str).collect();
                running(&format!("eth{i}"), &refs, AttachMode::Native)
            })
            .collect();
        assert!(matches!(save(None, &all, &[]), Err(SaveError::TooLarge(_))));
    }

    #[test]
    fn many_items_go_one_a_line() {
        let ports: Vec<String> = (1..=20).map(|p| (p * 100).to_string()).collect();
        let r = running("eth0", &[ports.join(",").as_str()], AttachMode::Native);
        let saved = save(None, std::slice::from_ref(&r), &[]).expect("saved");
        assert!(restored(&saved.text, &r));
        assert!(saved.text.contains("\n    \"2000\","), "{}", saved.text);
    }
}
