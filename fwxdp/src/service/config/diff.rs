//! How the running state differs from a config file (`fwxdp diff`): what `fwxdp run` with
//! that file would change, interface by interface.

use std::fmt;

use super::ServiceConfig;
use crate::{mode::AttachMode, state::Running};

/// One way the running state and the file disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    /// Attached, and no table covers it: a boot with the file leaves it unfiltered.
    Uncovered {
        iface: String,
    },
    /// Present and not attached, and a table covers it: a boot with the file filters it.
    NotAttached {
        iface: String,
        table: String,
    },
    /// Allow or limit items: `running` has what the file lacks, `file` what does not run.
    Items {
        iface: String,
        what: &'static str,
        running: Vec<String>,
        file: Vec<String>,
    },
    Mode {
        iface: String,
        running: AttachMode,
        file: AttachMode,
    },
    Monitor {
        iface: String,
        running: bool,
    },
    LogRate {
        iface: String,
        running: u32,
        file: u32,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Uncovered { iface } => write!(
                f,
                "{iface}: attached, and no [[interface]] in the file covers it (a boot would \
                 leave it unfiltered)"
            ),
            Self::NotAttached { iface, table } => write!(
                f,
                "{iface}: not attached, and [[interface]] {table} covers it (a boot would \
                 filter it)"
            ),
            Self::Items {
                iface,
                what,
                running,
                file,
            } => {
                let mut items: Vec<String> = running.iter().map(|i| format!("+{i}")).collect();
                items.extend(file.iter().map(|i| format!("-{i}")));
                write!(f, "{iface}: {what} {}", items.join(" "))
            }
            Self::Mode {
                iface,
                running,
                file,
            } => write!(
                f,
                "{iface}: mode {} runs, the file says {}",
                running.name(),
                file.name()
            ),
            Self::Monitor { iface, running } => write!(
                f,
                "{iface}: monitor {} runs, the file says {}",
                if *running { "on" } else { "off" },
                if *running { "off" } else { "on" },
            ),
            Self::LogRate {
                iface,
                running,
                file,
            } => write!(f, "{iface}: log_rate {running} runs, the file says {file}"),
        }
    }
}

/// Every difference between `running` and `config`; `present` names the interfaces this
/// host has now. Empty when a boot with the file would restore exactly what runs.
#[must_use]
pub fn differences(
    config: &ServiceConfig,
    running: &[Running],
    present: &[String],
) -> Vec<Difference> {
    let mut found = Vec::new();
    for r in running {
        let iface = || r.name.clone();
        let Some(table) = config.rule_for(&r.name) else {
            found.push(Difference::Uncovered { iface: iface() });
            continue;
        };
        for (what, running, file) in [
            ("allow", r.policy.to_specs(), table.policy.to_specs()),
            ("limit", r.policy.limit_specs(), table.policy.limit_specs()),
        ] {
            let only = |a: &[String], b: &[String]| -> Vec<String> {
                a.iter().filter(|i| !b.contains(i)).cloned().collect()
            };
            let (extra, missing) = (only(&running, &file), only(&file, &running));
            if !extra.is_empty() || !missing.is_empty() {
                found.push(Difference::Items {
                    iface: iface(),
                    what,
                    running: extra,
                    file: missing,
                });
            }
        }
        let mode = table.mode.unwrap_or_default();
        if !super::save::mode_fits(table.mode, r.mode) {
            found.push(Difference::Mode {
                iface: iface(),
                running: r.mode,
                file: mode,
            });
        }
        if table.monitor != r.monitor {
            found.push(Difference::Monitor {
                iface: iface(),
                running: r.monitor,
            });
        }
        if table.log_rate != r.log_rate {
            found.push(Difference::LogRate {
                iface: iface(),
                running: r.log_rate,
                file: table.log_rate,
            });
        }
    }
    for name in present {
        if running.iter().any(|r| &r.name == name) {
            continue;
        }
        if let Some(table) = config.rule_for(name) {
            found.push(Difference::NotAttached {
                iface: name.clone(),
                table: table.label(),
            });
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{policy::Policy, service::config::parse};

    fn running(name: &str, allow: &str) -> Running {
        Running {
            name: name.to_owned(),
            policy: Policy::parse(&[allow]).expect("valid"),
            mode: AttachMode::Native,
            monitor: false,
            log_rate: fwxdp_common::LOG_RATE_DEFAULT,
        }
    }

    #[test]
    fn names_each_difference() {
        let config = parse(
            "[[interface]]\nname = \"eth0\"\nallow = [\"22\", \"443\"]\nmode = \"tc\"\n\
             [[interface]]\nname = \"en*\"\nallow = [\"22\"]\nlog_rate = 5\n",
        )
        .expect("valid");
        let mut eth0 = running("eth0", "22,8000/tcp");
        eth0.monitor = true;
        let all = [eth0, running("eth9", "22")];
        let present = ["eth0", "eth9", "enp1s0"].map(str::to_owned);
        let lines: Vec<String> = differences(&config, &all, &present)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            lines,
            [
                "eth0: allow +8000/tcp -443",
                "eth0: mode native runs, the file says tc",
                "eth0: monitor on runs, the file says off",
                "eth9: attached, and no [[interface]] in the file covers it (a boot would \
                 leave it unfiltered)",
                "enp1s0: not attached, and [[interface]] en* covers it (a boot would filter it)",
            ]
        );
    }

    #[test]
    fn what_save_writes_has_no_difference() {
        let all = [
            running("eth0", "22,80,5432@10.0.0.0/8"),
            running("eth1", "ip:esp"),
        ];
        let saved = super::super::save::save(None, &all, &[]).expect("saved");
        let config = parse(&saved.text).expect("valid");
        assert_eq!(differences(&config, &all, &[]), []);
        // Auto in the file accepts what it would choose.
        let auto = parse("[[interface]]\nname = \"eth0\"\nallow = [\"22,80,5432@10.0.0.0/8\"]\n")
            .expect("valid");
        assert_eq!(differences(&auto, &all[..1], &[]), []);
    }
}
