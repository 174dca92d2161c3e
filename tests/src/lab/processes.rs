//! The long-running processes a lab starts, signals and waits for; it ends them when it is
//! dropped.

use std::process::Command;

use super::Lab;

impl Lab {
    /// Starts a long-running process that the lab ends (by PID) when dropped.
    ///
    /// # Panics
    /// When it cannot start.
    pub fn spawn(&self, mut cmd: Command) -> u32 {
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        let pid = child.id();
        self.children.lock().expect("children").push(child);
        pid
    }

    /// Sends `signal` to a process this lab started.
    ///
    /// # Panics
    /// When `pid` is not one of the lab's processes, or the signal cannot be sent.
    pub fn signal(&self, pid: u32, signal: nix::sys::signal::Signal) {
        let children = self.children.lock().expect("children");
        assert!(
            children.iter().any(|c| c.id() == pid),
            "{pid} was not started by this lab"
        );
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid"));
        nix::sys::signal::kill(pid, signal).unwrap_or_else(|e| panic!("kill {pid}: {e}"));
    }

    /// Waits up to `timeout` for a process this lab started to exit; its status, or `None`
    /// while it still runs.
    ///
    /// # Panics
    /// When `pid` is not one of the lab's processes.
    #[must_use]
    pub fn wait(&self, pid: u32, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            {
                let mut children = self.children.lock().expect("children");
                let child = children
                    .iter_mut()
                    .find(|c| c.id() == pid)
                    .unwrap_or_else(|| panic!("{pid} was not started by this lab"));
                if let Some(status) = child.try_wait().expect("try_wait") {
                    return Some(status);
                }
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
