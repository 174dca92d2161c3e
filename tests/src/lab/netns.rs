//! Network namespaces made by the lab, entered per thread.

use std::{
    fs::File,
    process::{Command, Output},
    thread,
};

use nix::sched::{CloneFlags, setns};

use super::run;

/// A named network namespace (`/run/netns/<name>`), deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace, with IPv6 duplicate address detection off (the lab assigns
    /// unique addresses, and waiting for DAD makes the first seconds of every lab flaky),
    /// and brings its loopback up.
    ///
    /// # Panics
    /// When `ip netns add` fails.
    #[must_use]
    pub fn create(name: &str) -> Self {
        run(Command::new("ip").args(["netns", "add", name]));
        let ns = Self {
            name: name.to_owned(),
        };
        for conf in ["all", "default"] {
            ns.sysctl(&format!("net/ipv6/conf/{conf}/accept_dad"), "0");
        }
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Writes a sysctl of this namespace (`key` as a /proc/sys path, `net/...`).
    ///
    /// # Panics
    /// When the write fails.
    pub fn sysctl(&self, key: &str, value: &str) {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.enter(move || {
            std::fs::write(format!("/proc/sys/{key}"), value)
                .unwrap_or_else(|e| panic!("sysctl {key}: {e}"));
        });
    }

    /// Waits until no IPv6 address of the namespace is tentative.
    ///
    /// # Panics
    /// When some still are after five seconds.
    pub fn wait_ipv6_ready(&self) {
        for _ in 0..500 {
            let out = self.ip(&["-6", "addr", "show", "tentative"]);
            if out.stdout.is_empty() {
                return;
            }
            thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("IPv6 addresses in {} stay tentative", self.name);
    }

    /// The namespace's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bind-mounted namespace file.
    #[must_use]
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }

    /// Runs `ip -n <ns> args...`, panicking on failure.
    #[expect(
        clippy::must_use_candidate,
        reason = "callers run it for its effect too"
    )]
    pub fn ip(&self, args: &[&str]) -> Output {
        run(Command::new("ip").arg("-n").arg(&self.name).args(args))
    }

    /// Runs `args` (a program and its arguments) inside the namespace, panicking with its
    /// output when it fails.
    ///
    /// # Panics
    /// When it cannot start or exits non-zero.
    #[expect(
        clippy::must_use_candidate,
        reason = "callers run it for its effect too"
    )]
    pub fn run(&self, args: &[&str]) -> Output {
        let (program, rest) = args.split_first().expect("a program to run");
        run(self.command(program).args(rest))
    }

    /// A command that runs inside the namespace (network only: the mount namespace, and so
    /// the bpffs, stay the caller's).
    #[must_use]
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net={}", self.path())).arg(program);
        cmd
    }

    /// Runs `f` on this thread inside the namespace, then puts the thread back in the
    /// namespace it was in (also when `f` panics). For what cannot move to another thread,
    /// such as a loaded BPF object running `TestRun` in the namespace's socket tables.
    ///
    /// # Panics
    /// When either namespace cannot be entered.
    pub fn within<T>(&self, f: impl FnOnce() -> T) -> T {
        let home = File::open("/proc/thread-self/ns/net").expect("open this thread's netns");
        let path = self.path();
        let target = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
        setns(&target, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        setns(&home, CloneFlags::CLONE_NEWNET).expect("setns back");
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Runs `f` on a thread that has entered the namespace. Sockets it creates stay in the
    /// namespace after it returns.
    ///
    /// # Panics
    /// When the namespace cannot be entered, or `f` panics.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = self.path();
        thread::spawn(move || {
            let file = File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            setns(&file, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

/// Joins `a` and `b` with a veth pair, `a_if` in `a` and `b_if` in `b`, both created directly
/// in their namespaces (the root namespace never holds them).
///
/// # Panics
/// When `ip link add` fails.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    run(Command::new("ip").args([
        "link", "add", a_if, "netns", &a.name, "type", "veth", "peer", "name", b_if, "netns",
        &b.name,
    ]));
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _: std::io::Result<Output> = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
