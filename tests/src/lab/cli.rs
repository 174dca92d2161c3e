//! fwxdp's command line, run in the lab's server namespace with the lab's pin root, and
//! what its JSON says.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use super::{Lab, SERVER_IF, setup::fwxdp_bin};

impl Lab {
    /// A `fwxdp` command that runs in the server namespace with the lab's pin root.
    #[must_use]
    pub fn fwxdp_command(&self) -> Command {
        let bin = self.current_fwxdp();
        let mut cmd = self.server.command(bin.to_str().expect("UTF-8 path"));
        // Empty, not removed: fwxdp would find the test runner's own SSH session (if any)
        // in its ancestors and guard it.
        cmd.env("FWXDP_PIN_ROOT", &self.pin_root)
            .env("SSH_CONNECTION", "");
        for (key, value) in self.fwxdp_env.lock().expect("env lock").iter() {
            cmd.env(key, value);
        }
        cmd
    }

    /// A `fwxdp` command like [`Self::fwxdp_command`], run under `wrapper` (such as strace
    /// and its options), which runs in the root namespace and enters the server's itself.
    #[must_use]
    pub fn fwxdp_wrapped(&self, wrapper: &[&str]) -> Command {
        let (program, options) = wrapper.split_first().expect("a wrapper program");
        let mut cmd = Command::new(program);
        cmd.args(options)
            .arg("nsenter")
            .arg(format!("--net={}", self.server.path()))
            .arg(self.current_fwxdp())
            .env("FWXDP_PIN_ROOT", &self.pin_root)
            .env("SSH_CONNECTION", "");
        for (key, value) in self.fwxdp_env.lock().expect("env lock").iter() {
            cmd.env(key, value);
        }
        cmd
    }

    /// Sets `key` to `value` in the environment of every later fwxdp command of this lab.
    /// Makes the lab's fwxdp commands run `bin` from now on (another build, to test an upgrade
    /// between two), or the binary under test again with `None`.
    pub fn use_fwxdp(&self, bin: Option<PathBuf>) {
        *self.fwxdp_override.lock().expect("binary lock") = bin;
    }

    fn current_fwxdp(&self) -> PathBuf {
        self.fwxdp_override
            .lock()
            .expect("binary lock")
            .clone()
            .unwrap_or_else(fwxdp_bin)
    }

    pub fn set_fwxdp_env(&self, key: &str, value: &str) {
        self.fwxdp_env
            .lock()
            .expect("env lock")
            .push((key.to_owned(), value.to_owned()));
    }

    /// Runs fwxdp with `args`, whatever its exit status.
    ///
    /// # Panics
    /// When it cannot start.
    #[must_use]
    pub fn fwxdp(&self, args: &[&str]) -> Output {
        self.fwxdp_command().args(args).output().expect("run fwxdp")
    }

    /// Runs fwxdp with `args` and returns its standard output.
    ///
    /// # Panics
    /// When it exits non-zero.
    pub fn fwxdp_ok(&self, args: &[&str]) -> String {
        let output = self.fwxdp(args);
        assert!(
            output.status.success(),
            "fwxdp {args:?} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    /// `fwxdp stats --json`, parsed.
    #[must_use]
    pub fn stats_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.fwxdp_ok(&["stats", "--json"])).expect("stats JSON")
    }

    /// `fwxdp status --json`, parsed. It exits 1 when an interface is pinned but not
    /// filtered, which the JSON says too (`filtering`); any other failure panics.
    ///
    /// # Panics
    /// When status fails otherwise, or its JSON disagrees with its exit code.
    #[must_use]
    pub fn status_json(&self) -> serde_json::Value {
        let output = self.fwxdp(&["status", "--json"]);
        let status: serde_json::Value =
            serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
                panic!(
                    "status JSON ({}): {e}: {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        let unfiltered = status["interfaces"]
            .as_array()
            .is_some_and(|all| all.iter().any(|i| i["filtering"] == false));
        let errors = status["errors"].as_array().is_some_and(|e| !e.is_empty());
        let want = if unfiltered || errors {
            Some(1)
        } else {
            Some(0)
        };
        assert_eq!(
            output.status.code(),
            want,
            "status exit code disagrees with its JSON: {status}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        status
    }

    /// Packets dropped on (`proto`, `port`) of the server interface, per `stats --json`.
    #[must_use]
    pub fn port_drops(&self, proto: &str, port: u16) -> (u64, u64) {
        self.port_drops_on(SERVER_IF, proto, port)
    }

    /// The packets and bytes `iface` dropped to `port` of `proto`.
    ///
    /// # Panics
    /// When the stats cannot be read.
    #[must_use]
    pub fn port_drops_on(&self, iface: &str, proto: &str, port: u16) -> (u64, u64) {
        let stats = self.stats_json();
        let ports = stats["interfaces"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["interface"] == iface)
            .and_then(|i| i["ports"].as_array())
            .cloned()
            .unwrap_or_default();
        ports
            .iter()
            .find(|p| p["proto"] == proto && p["port"] == port)
            .map_or((0, 0), |p| {
                (
                    p["packets"].as_u64().expect("packets"),
                    p["bytes"].as_u64().expect("bytes"),
                )
            })
    }
}
