//! qemu under TCG with its serial console on standard output, read by a thread of its own
//! so that the host can wait for the next line with a deadline.

use std::{
    collections::VecDeque,
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    sync::mpsc::{self, RecvTimeoutError},
    thread::{self, JoinHandle},
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

/// A qemu command that boots `vmlinuz` with `initrd` and the kernel command line `append`;
/// the caller adds its devices, then [`start`]s it.
pub(crate) fn command(vmlinuz: &Path, initrd: &Path, append: &str) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1024"])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .arg("-append")
        .arg(append);
    cmd
}

/// A running VM and the lines of its console.
pub(crate) struct Vm {
    child: Child,
    lines: mpsc::Receiver<String>,
    reader: JoinHandle<()>,
}

/// Starts `qemu` without graphics, a monitor or reboots, its console on standard output.
pub(crate) fn start(mut qemu: Command) -> Result<Vm> {
    let mut child = qemu
        .args([
            "-nographic",
            "-no-reboot",
            "-monitor",
            "none",
            "-serial",
            "stdio",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start qemu-system-x86_64")?;
    let Some(stdout) = child.stdout.take() else {
        drop(child.kill());
        drop(child.wait());
        bail!("qemu's console");
    };
    let (lines, received) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    Ok(Vm {
        child,
        lines: received,
        reader,
    })
}

impl Vm {
    /// The console's next line, waited for until `deadline` at most; `Disconnected` once
    /// the console has ended.
    pub(crate) fn line(&self, deadline: Instant) -> Result<String, RecvTimeoutError> {
        self.lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
    }

    /// Ends the VM where it stands.
    pub(crate) fn kill(mut self) {
        drop(self.child.kill());
        drop(self.child.wait());
    }

    /// Waits for the VM to have powered off and its console to be read to the end.
    pub(crate) fn wait(mut self) {
        drop(self.child.wait());
        drop(self.reader.join());
    }
}

/// The console's last lines, to show when a VM never finishes.
#[derive(Default)]
pub(crate) struct Tail(VecDeque<String>);

impl Tail {
    /// How many lines it keeps.
    const LINES: usize = 40;

    pub(crate) fn push(&mut self, line: String) {
        if self.0.len() == Self::LINES {
            self.0.pop_front();
        }
        self.0.push_back(line);
    }

    /// The lines kept, one a line.
    pub(crate) fn text(self) -> String {
        Vec::from(self.0).join("\n")
    }
}
