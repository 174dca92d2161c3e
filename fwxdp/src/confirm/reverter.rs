//! What reverts an unconfirmed change at its deadline, whatever happens to the command that
//! made it: the SSH session dying takes the command's process group and session with it,
//! and fwxdp itself may be killed. So the revert is carried out by a transient systemd timer
//! where systemd runs this host (a system unit, in no login session), and otherwise by a
//! process of its own session that sleeps until the deadline (`fwxdp revert-pending`,
//! which the timer runs too).

use std::{
    fs,
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Command, Stdio},
};

use super::record::{Pending, Reverter};

#[derive(Debug, thiserror::Error)]
pub enum ReverterError {
    #[error("cannot find this program's own path, to run the revert")]
    Exe(#[source] std::io::Error),
    #[error("cannot start the process that reverts the change")]
    Spawn(#[source] std::io::Error),
}

/// Arranges for `pending` (recorded in `run_dir`) to be reverted at its deadline.
///
/// # Errors
/// When neither a timer nor a process could be started: the change must then not be made.
pub fn arrange(pending: &Pending, run_dir: &Path) -> Result<Reverter, ReverterError> {
    let exe = std::env::current_exe().map_err(ReverterError::Exe)?;
    if systemd_runs() && same_network_namespace_as_init() {
        let unit = format!("fwxdp-revert-{}", pending.id);
        let status = Command::new("systemd-run")
            .arg(format!("--unit={unit}"))
            .arg(format!(
                "--description=fwxdp: revert `{}` unless confirmed",
                pending.what
            ))
            .arg(format!("--on-active={}s", pending.remaining().max(1)))
            .arg("--timer-property=AccuracySec=1s")
            .arg("--collect")
            .arg("--quiet")
            .arg(&exe)
            .args(revert_args(pending, run_dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return Ok(Reverter::Timer { unit });
        }
        // No usable systemd (a container, a broken bus): a process does it.
    }
    let _: std::io::Result<()> = fs::create_dir_all(run_dir);
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(run_dir.join("revert.log"))
        .map_or_else(|_| Stdio::null(), Stdio::from);
    let mut command = Command::new(&exe);
    command
        .args(revert_args(pending, run_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        // The guard is for changes an operator makes; a revert puts back what was.
        .env_remove("SSH_CONNECTION");
    // SAFETY: between fork and exec only async-signal-safe calls: setsid(2), signal(2),
    // sigprocmask(2).
    unsafe {
        command.pre_exec(|| {
            // A session of its own: no terminal, no process group an SSH hang-up reaches.
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            nix::sys::signal::signal(
                nix::sys::signal::Signal::SIGHUP,
                nix::sys::signal::SigHandler::SigIgn,
            )
            .map_err(std::io::Error::from)?;
            // The command holds its signals while it changes pins; the reverter must take
            // the SIGTERM a confirmation sends it.
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&nix::sys::signal::SigSet::empty()),
                None,
            )
            .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = command.spawn().map_err(ReverterError::Spawn)?;
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    // Reaped when it ends, so a long-running parent (the service) keeps no zombie.
    std::thread::spawn(move || child.wait());
    Ok(Reverter::Process { pid })
}

fn revert_args(pending: &Pending, run_dir: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "--pin-root".into(),
        pending.pin_root.clone().into(),
        "--run-dir".into(),
        run_dir.into(),
        "revert-pending".into(),
        "--id".into(),
        pending.id.clone().into(),
        "--deadline".into(),
        pending.deadline.to_string().into(),
    ]
}

/// Stops the reverter of a change that was confirmed. Best effort: the reverter reads the
/// record before it acts and finds the change gone.
pub fn cancel(pending: &Pending) {
    match &pending.reverter {
        Some(Reverter::Timer { unit }) => {
            let _: std::io::Result<_> = Command::new("systemctl")
                .args(["stop", &format!("{unit}.timer")])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        Some(Reverter::Process { pid }) => {
            // Only the process that is this change's reverter, not whatever has the pid now.
            let ours = fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == pending.id.as_bytes())
            });
            if ours {
                let _: nix::Result<()> = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(*pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
        None => {}
    }
}

fn systemd_runs() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// A systemd unit runs in init's network namespace: one made from a command in another
/// would revert interfaces of the wrong namespace. The service, whose capabilities do not
/// let it read init's namespace, is a unit itself and so in the namespace units run in.
fn same_network_namespace_as_init() -> bool {
    match (
        fs::read_link("/proc/self/ns/net"),
        fs::read_link("/proc/1/ns/net"),
    ) {
        (Ok(ours), Ok(init)) => ours == init,
        _ => std::env::var_os("INVOCATION_ID").is_some(),
    }
}
