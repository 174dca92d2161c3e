//! `fwxdp allow` and `fwxdp revoke`: items added to or taken out of the running policy of
//! attached interfaces, replaced in place as `attach` replaces a whole policy (mode, monitor
//! flag and log rate kept). Every interface's new policy is built and checked before any is
//! changed.

use super::{
    args::EditArgs,
    error::{CliError, UsageError},
    process::{hold_signals, require_root},
    render,
};
use crate::{
    attach::{self, Request},
    iface,
    policy::{Policy, edit::Edit, lockout},
    state::{PinRoot, PinnedInterface, Running, StateLock},
};

/// Which way an edit goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Allow,
    Revoke,
}

/// One interface's part in an edit.
struct Planned {
    iface: String,
    running: Policy,
    edited: Policy,
    monitor: bool,
    log_rate: u32,
}

/// Runs `allow` or `revoke`.
pub(super) fn run(
    root: &PinRoot,
    run_dir: &std::path::Path,
    args: &EditArgs,
    change: Change,
) -> Result<(), CliError> {
    let (ifaces, lists) = split(&args.targets)?;
    let edit = Edit::parse(&lists).map_err(UsageError::from)?;
    match (args.all, ifaces.is_empty()) {
        (true, false) => {
            return Err(usage(
                "--all and interface names do not go together: --all means every attached \
                 interface",
            ));
        }
        (false, true) => return Err(usage("name the interfaces, or give --all")),
        _ => {}
    }
    require_root()?;
    hold_signals()?;
    let _lock = StateLock::acquire()?;
    super::confirm::settle(root, run_dir)?;
    let mut pinned = if args.all {
        PinnedInterface::all(root)?
    } else {
        ifaces
            .iter()
            .map(|name| {
                PinnedInterface::find(root, name).ok_or_else(|| CliError::NotAttached {
                    iface: name.clone(),
                })
            })
            .collect::<Result<_, _>>()?
    };
    if pinned.is_empty() {
        say!("no interface is attached");
        return Ok(());
    }
    let plans = plan(&mut pinned, &edit, change, args.force)?;
    let names: Vec<String> = plans.iter().map(|p| p.iface.clone()).collect();
    let pending = super::confirm::begin(root, run_dir, &names, args.window.confirm)?;
    for plan in &plans {
        notes(plan, &edit, change);
        if plan.edited == plan.running {
            say!("{}: nothing to change", plan.iface);
            continue;
        }
        let request = Request {
            iface: &plan.iface,
            policy: &plan.edited,
            monitor: plan.monitor,
            log_rate: plan.log_rate,
            mode: None,
            spares: None,
        };
        let outcome = attach::attach(root, &request).map_err(|source| {
            super::confirm::abandon(root, run_dir, pending.as_ref());
            CliError::Attach {
                iface: plan.iface.clone(),
                source: Box::new(source),
            }
        })?;
        render::outcome(&outcome, &plan.edited, plan.monitor);
    }
    super::confirm::announce(pending.as_ref());
    Ok(())
}

/// Every interface's policy after the edit, each checked as `attach` checks one.
fn plan(
    pinned: &mut [PinnedInterface],
    edit: &Edit,
    change: Change,
    force: bool,
) -> Result<Vec<Planned>, CliError> {
    let mut plans = Vec::new();
    for interface in pinned {
        let now = Running::of(interface)?;
        let running = now.policy;
        let edited = match change {
            Change::Allow => running.with_edit(edit).map_err(UsageError::from)?,
            Change::Revoke => running.without(edit),
        };
        // Only a revoke can close the port a session came in on; an allow adds.
        if change == Change::Revoke && !force && edited != running {
            lockout::check(&edited).map_err(UsageError::from)?;
        }
        plans.push(Planned {
            iface: now.name,
            running,
            edited,
            monitor: now.monitor,
            log_rate: now.log_rate,
        });
    }
    Ok(plans)
}

/// Says which items change nothing on an interface: already allowed, or not allowed.
fn notes(plan: &Planned, edit: &Edit, change: Change) {
    for (text, one) in edit.each() {
        let unchanged = match change {
            Change::Allow => plan
                .running
                .with_edit(&one)
                .is_ok_and(|p| p == plan.running),
            Change::Revoke => plan.running.without(&one) == plan.running,
        };
        if unchanged {
            let was = match change {
                Change::Allow => "already allowed",
                Change::Revoke => "not allowed",
            };
            say!("{}: {text} was {was}", plan.iface);
        }
    }
}

/// Sorts the words into interface names and item lists: a word that starts with a digit or
/// `ip:` is items (an interface name rarely does), anything else an interface.
fn split(targets: &[String]) -> Result<(Vec<String>, Vec<String>), CliError> {
    let mut ifaces = Vec::new();
    let mut lists = Vec::new();
    for target in targets {
        let items = target.starts_with(|c: char| c.is_ascii_digit())
            || target
                .get(..3)
                .is_some_and(|head| head.eq_ignore_ascii_case("ip:"));
        if items {
            lists.push(target.clone());
        } else {
            iface::check_name(target).map_err(UsageError::InterfaceName)?;
            if !ifaces.contains(target) {
                ifaces.push(target.clone());
            }
        }
    }
    if lists.is_empty() {
        return Err(usage(
            "name at least one item (8000/tcp, 5432@10.0.0.0/8, ip:esp, 22/tcp=4/60s)",
        ));
    }
    Ok((ifaces, lists))
}

fn usage(message: &str) -> CliError {
    UsageError::Edit(message.to_owned()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn split_tells_names_from_items() {
        let (ifaces, lists) =
            split(&words("eth0 8000/tcp eth1 ip:esp IP:gre 22/tcp=4/60s eth0")).unwrap();
        assert_eq!(ifaces, ["eth0", "eth1"]);
        assert_eq!(lists, ["8000/tcp", "ip:esp", "IP:gre", "22/tcp=4/60s"]);
    }

    #[test]
    fn split_wants_an_item_and_sane_names() {
        assert!(matches!(
            split(&words("eth0 eth1")),
            Err(CliError::Usage(UsageError::Edit(_)))
        ));
        assert!(matches!(
            split(&words("eth0/x 22")),
            Err(CliError::Usage(UsageError::InterfaceName(_)))
        ));
    }
}
