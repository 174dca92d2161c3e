//! The config file's validation: every form, every problem with its line.

use std::{fmt, path::PathBuf};

use super::*;
use crate::{mode::AttachMode, policy::Policy};

const GOOD: &str = r#"
[[interface]]
name = "eth0"
allow = ["22", "80", "443", "53/udp", "5432@10.0.0.0/8"]
mode = "auto"
monitor = false

[[interface]]
name = "eth1"
allow = ["22,8000-8100/tcp"]

[metrics]
listen = "127.0.0.1:9814"
"#;

fn problems(text: &str) -> Vec<Problem> {
    parse(text).expect_err("should be rejected")
}

#[test]
fn parses_the_documented_example() {
    let config = parse(GOOD).expect("valid");
    assert_eq!(config.interfaces.len(), 2);
    let eth0 = &config.interfaces[0];
    assert_eq!(eth0.label(), "eth0");
    assert_eq!(eth0.mode, Some(AttachMode::Auto));
    assert!(!eth0.monitor);
    assert_eq!(
        eth0.policy,
        Policy::parse(&["22,80,443,53/udp,5432@10.0.0.0/8"]).expect("policy")
    );
    assert_eq!(config.interfaces[1].mode, None);
    assert_eq!(
        config.metrics.map(|m| m.listen.to_string()),
        Some("127.0.0.1:9814".into())
    );
}

#[test]
fn no_metrics_table_means_no_exporter() {
    let config = parse("[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\n").expect("valid");
    assert_eq!(config.metrics, None);
    let config = parse("filter_nothing = true\n[metrics]\n").expect("valid");
    assert_eq!(
        config.metrics.map(|m| m.listen.to_string()),
        Some(DEFAULT_LISTEN.into())
    );
}

#[test]
fn an_unknown_key_is_an_error_with_its_line() {
    let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\nalow = [\"80\"]\n");
    assert_eq!(p[0].line, Some(4), "{p:?}");
    assert!(p[0].message.contains("alow"), "{p:?}");
    let p = problems("[metric]\nlisten = \"127.0.0.1:1\"\n");
    assert_eq!(p[0].line, Some(1), "{p:?}");
    assert!(p[0].message.contains("metric"), "{p:?}");
}

#[test]
fn a_bad_port_names_the_item_and_its_line() {
    let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\n  \"22\",\n  \"70000\",\n]\n");
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(5));
    assert!(p[0].message.contains("\"70000\""), "{p:?}");
    assert!(p[0].message.contains("eth0"), "{p:?}");
}

#[test]
fn a_bad_cidr_names_the_item_and_its_line() {
    let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\"5432@10.0.0.0/33\"]\n");
    assert_eq!(p[0].line, Some(3), "{p:?}");
    assert!(p[0].message.contains("10.0.0.0/33"), "{p:?}");
}

#[test]
fn a_syntax_error_is_reported_with_its_line() {
    let p = problems("[[interface]]\nname = \"eth0\"\nallow = [\"22\"\n\n[metrics]\n");
    assert!(p[0].line.is_some_and(|l| l >= 3), "{p:?}");
    let p = problems("[[interface]]\nname = eth0\n");
    assert_eq!(p[0].line, Some(2), "{p:?}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let p = problems(
        "[[interface]]\nname = \"eth0\"\nallow = [\"0\"]\nmode = \"fast\"\n\n\
         [[interface]]\nname = \"eth0\"\nallow = [\"22\"]\n\n\
         [metrics]\nlisten = \"localhost\"\n",
    );
    let lines: Vec<_> = p.iter().map(|p| p.line).collect();
    assert_eq!(lines, vec![Some(3), Some(4), Some(7), Some(11)], "{p:?}");
}

#[test]
fn the_error_names_the_file() {
    let error = ConfigError {
        path: PathBuf::from("/etc/fwxdp/fwxdp.toml"),
        problems: vec![Problem {
            line: Some(3),
            message: "bad".into(),
        }],
    };
    assert_eq!(error.to_string(), "/etc/fwxdp/fwxdp.toml:3: bad");
}

#[test]
fn a_huge_file_or_a_device_is_refused_without_reading_it_all() {
    let dir = std::env::temp_dir().join(format!("fwxdp-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big.toml");
    let line = "# padding\n";
    std::fs::write(
        &big,
        line.repeat(usize::try_from(MAX_FILE_BYTES).unwrap() / line.len() + 1),
    )
    .unwrap();
    for path in [big.as_path(), Path::new("/dev/zero")] {
        let error = load(path).expect_err("refused");
        assert!(error.to_string().contains("larger than"), "{error}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `count` valid interface tables of three lines each.
fn interfaces(count: usize) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    for i in 0..count {
        let _: fmt::Result = writeln!(text, "[[interface]]\nname = \"e{i}\"\nallow = [\"22\"]");
    }
    text
}

#[test]
fn too_many_interfaces_are_refused_naming_the_first_too_many() {
    let text = interfaces(MAX_INTERFACES + 1);
    let p = problems(&text);
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(MAX_INTERFACES * 3 + 2), "{p:?}");
    assert!(p[0].message.contains("at most 1024"), "{p:?}");
}

#[test]
fn lines_are_numbered_right_in_a_long_file() {
    let mut text = interfaces(MAX_INTERFACES - 1);
    text.push_str("[[interface]]\nname = \"e0\"\nallow = [\"0\"]\n");
    let p = problems(&text);
    let base = (MAX_INTERFACES - 1) * 3;
    assert_eq!(
        p.iter().map(|p| p.line).collect::<Vec<_>>(),
        vec![Some(base + 3), Some(base + 2)],
        "{p:?}"
    );
}

#[test]
fn filtering_nothing_or_allowing_nothing_must_be_said() {
    let p = problems("[metrics]\n");
    assert!(p[0].message.contains("filter_nothing = true"), "{p:?}");
    let p = problems("");
    assert!(p[0].message.contains("no [[interface]]"), "{p:?}");
    let p = problems("[[interface]]\nname = \"eth0\"\nallow = []\n");
    assert_eq!(p[0].line, Some(2), "{p:?}");
    assert!(p[0].message.contains("allow_nothing = true"), "{p:?}");
    let config = parse("filter_nothing = true\n").expect("said");
    assert!(config.interfaces.is_empty());
    let config =
        parse("[[interface]]\nname = \"eth0\"\nallow = []\nallow_nothing = true\n").expect("said");
    assert_eq!(config.interfaces[0].policy, Policy::deny_all());
}

#[test]
fn an_exporter_off_loopback_is_a_warning() {
    let config = parse(
        "[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\n[metrics]\nlisten = \"0.0.0.0:9814\"\n",
    )
    .expect("valid");
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert_eq!(config.warnings[0].line, Some(5));
    assert!(config.warnings[0].message.contains("not a loopback"));
    assert!(parse(GOOD).expect("valid").warnings.is_empty());
}

#[test]
fn names_may_be_patterns_and_lists_and_the_first_table_that_matches_wins() {
    let config = parse(
        "[[interface]]\nname = \"eth1\"\nallow = [\"22,5432\"]\n\
         [[interface]]\nname = [\"eth*\", \"en*\"]\nallow = [\"22\"]\n",
    )
    .expect("valid");
    let rule = |name| config.rule_for(name).map(InterfaceConfig::label);
    assert_eq!(rule("eth1").as_deref(), Some("eth1"));
    assert_eq!(rule("eth0").as_deref(), Some("eth*, en*"));
    assert_eq!(rule("enp1s0").as_deref(), Some("eth*, en*"));
    assert_eq!(rule("docker0"), None);
    assert_eq!(rule("lo"), None);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn bad_names_and_patterns_are_refused_and_broad_ones_warned_about() {
    let p = problems("[[interface]]\nname = [\"eth0\", \"lo\"]\nallow = [\"22\"]\n");
    assert!(p.iter().any(|p| p.message.contains("loopback")), "{p:?}");
    let p = problems("[[interface]]\nname = []\nallow = [\"22\"]\n");
    assert!(
        p.iter().any(|p| p.message.contains("no interface")),
        "{p:?}"
    );
    let p = problems(
        "[[interface]]\nname = \"en*\"\nallow = [\"22\"]\n[[interface]]\nname = \"en*\"\nallow = [\"22\"]\n",
    );
    assert!(
        p.iter().any(|p| p.message.contains("listed twice")),
        "{p:?}"
    );
    let p = problems(
        "[[interface]]\nname = \"eth*\"\nallow = [\"22,80\"]\n[[interface]]\nname = \"eth0\"\nallow = [\"22\"]\n",
    );
    assert!(
        p.iter()
            .any(|p| p.message.contains("covered by an earlier") && p.line == Some(5)),
        "{p:?}"
    );
    let config = parse("[[interface]]\nname = \"*\"\nallow = [\"22\"]\n").expect("valid");
    assert_eq!(config.warnings.len(), 1, "{:?}", config.warnings);
    assert!(
        config.warnings[0].message.contains("docker0"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn the_shipped_example_is_valid_and_covers_both_naming_schemes() {
    let text = include_str!("../../../../dist/fwxdp.toml");
    let config = parse(text).expect("dist/fwxdp.toml is valid");
    for name in ["eth0", "enp1s0", "ens3", "eno1"] {
        assert!(config.rule_for(name).is_some(), "{name}");
    }
    for name in ["lo", "docker0", "veth1234", "br-1234", "wg0"] {
        assert!(config.rule_for(name).is_none(), "{name}");
    }
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn limits_are_read_and_a_bad_one_is_named_with_its_line() {
    let config = parse("[[interface]]\nname = \"eth0\"\nlimit = [\"22/tcp=4/60s\"]\n")
        .expect("a limit alone allows its port");
    assert_eq!(
        config.interfaces[0].policy,
        Policy::parse_with_limits(&[] as &[&str], &["22/tcp=4/60s"]).expect("policy")
    );
    assert_eq!(config.interfaces[0].policy.limit_specs(), ["22/tcp=4/1m"]);
    let p = problems(
        "[[interface]]\nname = \"eth0\"\nallow = [\"80\"]\nlimit = [\"22/tcp=4/60s\",\n  \"22=4/1m\"]\n",
    );
    assert_eq!(p.len(), 1, "{p:?}");
    assert_eq!(p[0].line, Some(5), "{p:?}");
    assert!(p[0].message.contains("bad limit item \"22=4/1m\""), "{p:?}");
}
