//! The network-namespace lab that every end-to-end test uses.
//!
//! A [`Lab`] is a "server" namespace and an "internet" namespace joined by a veth pair, with
//! IPv4 and IPv6 test addresses and no static neighbour entries. fwxdp runs in the server
//! namespace with a pin root of the lab's own. Dropping the lab (also while a test panics)
//! ends the processes it started, removes its pins and deletes its namespaces; labs left by a
//! killed test run are swept when the next one starts.

mod cli;
pub mod daemon;
pub mod docker;
pub mod exporter;
pub mod netns;
pub mod probe;
mod processes;
pub mod raw;
pub mod services;
mod setup;
pub mod tun;
pub mod watch;

pub use setup::{fwxdp_bin, next_layout_bin, require_privileges, sweep_stale};

use std::{
    fs,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Output},
    sync::{
        Mutex, Once,
        atomic::{AtomicUsize, Ordering},
    },
};

use netns::Netns;

/// Every lab name (namespaces, pin roots) starts with this, followed by the owning PID.
pub const PREFIX: &str = "fwxl-";
/// The filtered interface, in the server namespace.
pub const SERVER_IF: &str = "fwx0";
/// Its peer, in the internet namespace.
pub const INTERNET_IF: &str = "fwx1";
/// The server's address.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The main client address on the internet side.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// A second client address on the internet side.
pub const CLIENT2_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 3);
/// The server's IPv6 address.
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1);
/// The main client IPv6 address.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 2);
/// A second client IPv6 address.
pub const CLIENT2_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 3);

static NEXT_ID: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();

/// Runs a command with `input` on its standard input, returning its output.
///
/// # Panics
/// When the command cannot start or its input cannot be written.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Output {
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), input.as_bytes())
        .unwrap_or_else(|e| panic!("feed {cmd:?}: {e}"));
    child.wait_with_output().expect("wait")
}

/// Runs a command to completion, panicking with its output when it fails.
///
/// # Panics
/// When the command cannot start or exits non-zero.
pub fn run(cmd: &mut Command) -> Output {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}): {}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A server and an internet namespace joined by a veth pair.
#[derive(Debug)]
pub struct Lab {
    id: String,
    /// The host fwxdp protects.
    pub server: Netns,
    /// Where clients and attackers live.
    pub internet: Netns,
    pin_root: PathBuf,
    children: Mutex<Vec<Child>>,
    fwxdp_env: Mutex<Vec<(String, String)>>,
    /// The fwxdp binary commands run, when not the one under test ([`fwxdp_bin`]).
    fwxdp_override: Mutex<Option<PathBuf>>,
}

impl Lab {
    /// Builds a fresh lab with unique names.
    ///
    /// # Panics
    /// When not privileged, or when a setup command fails.
    #[must_use]
    pub fn new() -> Self {
        require_privileges();
        SWEEP.call_once(sweep_stale);
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            NEXT_ID.fetch_add(1, Ordering::Relaxed)
        );
        let server = Netns::create(&format!("{id}-srv"));
        let internet = Netns::create(&format!("{id}-net"));
        let lab = Self {
            pin_root: PathBuf::from("/sys/fs/bpf").join(&id),
            id,
            server,
            internet,
            children: Mutex::new(Vec::new()),
            fwxdp_env: Mutex::new(Vec::new()),
            fwxdp_override: Mutex::new(None),
        };
        lab.link();
        lab.server.wait_ipv6_ready();
        lab.internet.wait_ipv6_ready();
        lab.wait_reachable();
        lab
    }

    /// Joins the server and the internet with the veth pair and gives both ends their
    /// addresses, as a network manager would.
    fn link(&self) {
        netns::veth(&self.server, SERVER_IF, &self.internet, INTERNET_IF);
        let addresses: [(&Netns, &str, &[String]); 2] = [
            (
                &self.server,
                SERVER_IF,
                &[format!("{SERVER_V4}/24"), format!("{SERVER_V6}/64")],
            ),
            (
                &self.internet,
                INTERNET_IF,
                &[
                    format!("{CLIENT_V4}/24"),
                    format!("{CLIENT2_V4}/24"),
                    format!("{CLIENT_V6}/64"),
                    format!("{CLIENT2_V6}/64"),
                ],
            ),
        ];
        for (ns, iface, addrs) in addresses {
            for addr in addrs {
                // nodad: skip the duplicate-address wait; neighbour discovery still runs.
                let mut args = vec!["addr", "add", addr.as_str(), "dev", iface];
                if addr.contains(':') {
                    args.push("nodad");
                }
                // The second client address is used only when a socket binds it: replies
                // from wildcard sockets must come from the main address, as IPv4's
                // secondary addresses already ensure.
                if addr.starts_with(&CLIENT2_V6.to_string()) {
                    args.extend(["preferred_lft", "0"]);
                }
                ns.ip(&args);
            }
            ns.ip(&["link", "set", iface, "up"]);
        }
    }

    /// Deletes the server's interface (and so its veth peer) and makes the pair again, with
    /// new indexes, addressed and up; as a re-created device comes back. Nothing waits for
    /// neighbours: a filter may be dropping the probes that would.
    pub fn recreate_server_link(&self) {
        self.server.ip(&["link", "del", SERVER_IF]);
        self.link();
    }

    /// Waits until both sides answer neighbour discovery, IPv4 and IPv6, then forgets the
    /// entries that took: a freshly raised veth ignores solicitations for a moment, which
    /// would otherwise pass for a filter that drops them.
    fn wait_reachable(&self) {
        let pairs: [(&Netns, IpAddr); 4] = [
            (&self.server, CLIENT_V4.into()),
            (&self.server, CLIENT_V6.into()),
            (&self.internet, SERVER_V4.into()),
            (&self.internet, SERVER_V6.into()),
        ];
        for (ns, addr) in pairs {
            // Nothing listens on port 1: a RST (Closed) proves the path works both ways.
            let to = SocketAddr::new(addr, 1);
            let ok = (0..50).any(|_| {
                probe::tcp(ns, None, to, std::time::Duration::from_millis(100))
                    == probe::Tcp::Closed
            });
            assert!(ok, "{addr} never answered from {}", ns.name());
        }
        for ns in [&self.server, &self.internet] {
            ns.ip(&["neigh", "flush", "all"]);
        }
    }

    /// The lab's unique name.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lab's pin root, under /sys/fs/bpf.
    #[must_use]
    pub fn pin_root(&self) -> &Path {
        &self.pin_root
    }

    /// The MAC address of `iface` in `ns`.
    ///
    /// # Panics
    /// When it cannot be read.
    #[must_use]
    pub fn mac(ns: &Netns, iface: &str) -> [u8; 6] {
        let output = ns.ip(&["-j", "link", "show", "dev", iface]);
        let links: serde_json::Value = serde_json::from_slice(&output.stdout).expect("ip -j");
        let text = links[0]["address"].as_str().expect("address");
        let mut mac = [0u8; 6];
        for (byte, part) in mac.iter_mut().zip(text.split(':')) {
            *byte = u8::from_str_radix(part, 16).expect("hex");
        }
        mac
    }

    /// Connects to the server from the internet side.
    #[must_use]
    pub fn connect(&self, addr: IpAddr, port: u16) -> probe::Tcp {
        probe::tcp(
            &self.internet,
            None,
            SocketAddr::new(addr, port),
            PROBE_TIMEOUT,
        )
    }
}

/// Polls `read` until it returns `want` (for up to two seconds) and returns what it read
/// last: XDP on a veth runs in NAPI, after the sender's call has returned.
pub fn eventually<T: PartialEq>(want: &T, mut read: impl FnMut() -> T) -> T {
    let mut value = read();
    for _ in 0..100 {
        if value == *want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        value = read();
    }
    value
}

/// How long a probe waits before calling a port filtered.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(800);

impl Default for Lab {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Ok(mut children) = self.children.lock() {
            for child in children.iter_mut() {
                let _: std::io::Result<()> = child.kill();
                let _: std::io::Result<std::process::ExitStatus> = child.wait();
            }
        }
        // Removing the pins releases the links; deleting the namespaces (as the fields drop)
        // removes the veth pair.
        let _: std::io::Result<()> = fs::remove_dir_all(&self.pin_root);
    }
}
