//! The rig of the live benches: a lab whose server veth runs threaded NAPI (GRO on, so that
//! it has NAPI without an XDP program) with its NAPI thread pinned to one CPU, a
//! two-instruction `XDP_TX` program that floods it with live frames (`BPF_PROG_RUN`), and
//! the droppers compared: a bare `XDP_DROP` program, fwxdp (with a small policy and with one
//! at the product's limits), xdp-filter, an nftables netdev ingress rule and an iptables
//! INPUT rule, each dropping TCP to a protected port.
//!
//! The generator runs on the receiver's CPU: from the other one, the receiver spent three
//! quarters of its time on a contended spinlock, giving each dropped frame's page back to
//! the generator's page pool, whatever the dropper. `FWXDP_BENCH_ONLY=<part of a name>`
//! runs one candidate and `FWXDP_BENCH_SECONDS=<n>` floods longer, to profile one.

use std::{
    fs,
    process::Command,
    time::{Duration, Instant},
};

use fwxdp_tests::{
    bare::BareXdp,
    lab::{CLIENT_V4, INTERNET_IF, Lab, SERVER_IF, SERVER_V4},
    packet::{FrameBuilder, SYN},
};

pub(crate) const ROUNDS: usize = 5;
/// How long the generator sends in one measurement.
const SEND_FOR: Duration = Duration::from_secs(3);
/// [`SEND_FOR`], or `FWXDP_BENCH_SECONDS` (to profile a longer flood).
pub(crate) fn send_for() -> Duration {
    std::env::var("FWXDP_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(SEND_FOR, Duration::from_secs)
}

/// Frames a `BPF_PROG_RUN` call sends.
const BURST: u32 = 1 << 16;
/// Where libxdp (xdp-filter) pins its programs.
const LIBXDP_PIN_DIR: &str = "/sys/fs/bpf/xdp";
const PROTECTED: u16 = 3306;
const GENERATOR_CPU: usize = 1;
const RECEIVER_CPU: usize = 1;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dropper {
    Bare,
    Counted,
    Fwxdp,
    FwxdpLoaded,
    XdpFilter,
    NftIngress,
    IptablesInput,
}

impl Dropper {
    pub(crate) const ALL: [Self; 7] = [
        Self::Bare,
        Self::Counted,
        Self::Fwxdp,
        Self::FwxdpLoaded,
        Self::XdpFilter,
        Self::NftIngress,
        Self::IptablesInput,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Bare => "a bare XDP_DROP program",
            Self::Counted => "bare XDP_DROP + one per-CPU counter",
            Self::Fwxdp => "fwxdp native (--allow 22)",
            Self::FwxdpLoaded => "fwxdp native, policy at its limits",
            Self::XdpFilter => "xdp-filter (xdp-tools, native)",
            Self::NftIngress => "nft netdev ingress drop",
            Self::IptablesInput => "iptables INPUT DROP",
        }
    }
}

/// What a dropper left installed, removed on drop.
pub(crate) enum Installed<'a> {
    /// The link that holds the bare program on the interface, released when closed.
    Bare(#[expect(dead_code, reason = "held for its drop")] std::os::fd::OwnedFd),
    Commands(&'a Lab, Vec<Vec<String>>),
}

impl Drop for Installed<'_> {
    fn drop(&mut self) {
        if let Self::Commands(lab, undo) = self {
            for args in undo.iter() {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                // Best effort: the lab's namespaces go with it anyway.
                let _: std::io::Result<_> = lab.server.command(args[0]).args(&args[1..]).output();
            }
        }
    }
}

fn server_run(lab: &Lab, args: &[&str]) {
    lab.server.run(args);
}

fn install<'a>(
    lab: &'a Lab,
    dropper: Dropper,
    bare: &[BareXdp; 2],
    loaded: &LoadedRoot,
    ifindex: u32,
) -> Installed<'a> {
    let port = PROTECTED.to_string();
    let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
    match dropper {
        Dropper::Bare | Dropper::Counted => Installed::Bare(
            lab.server
                .within(|| bare[usize::from(dropper == Dropper::Counted)].attach(ifindex))
                .expect("attach the bare program"),
        ),
        Dropper::Fwxdp => {
            lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "native"]);
            // Detached by `uninstall`, with the lab's pin root.
            Installed::Commands(lab, Vec::new())
        }
        Dropper::FwxdpLoaded => {
            let mut args = vec!["attach", SERVER_IF, "--mode", "native"];
            let policy = loaded_policy();
            args.extend(policy.iter().map(String::as_str));
            loaded.run(lab, &args);
            Installed::Commands(lab, Vec::new())
        }
        Dropper::XdpFilter => {
            // libxdp pins its dispatcher under /sys/fs/bpf/xdp, which it makes and leaves.
            let made_pin_dir = !std::path::Path::new(LIBXDP_PIN_DIR).exists();
            // Undone even if loading fails halfway (or this thread panics).
            let mut undo = vec![owned(&["xdp-filter", "unload", SERVER_IF])];
            if made_pin_dir {
                undo.push(owned(&[
                    "rmdir",
                    "--ignore-fail-on-non-empty",
                    LIBXDP_PIN_DIR,
                ]));
            }
            let installed = Installed::Commands(lab, undo);
            server_run(lab, &["xdp-filter", "load", SERVER_IF, "-m", "native"]);
            server_run(lab, &["xdp-filter", "port", &port]);
            installed
        }
        Dropper::NftIngress => {
            let rules = format!(
                "table netdev fwxbench {{\n  chain ingress {{\n    type filter hook ingress \
                 device {SERVER_IF} priority 0;\n    tcp dport {PROTECTED} drop\n  }}\n}}\n"
            );
            let loaded = fwxdp_tests::lab::run_with_input(
                lab.server.command("nft").args(["-f", "-"]),
                &rules,
            );
            assert!(loaded.status.success(), "nft -f: {loaded:?}");
            Installed::Commands(
                lab,
                vec![owned(&["nft", "delete", "table", "netdev", "fwxbench"])],
            )
        }
        Dropper::IptablesInput => {
            let rule = ["INPUT", "-p", "tcp", "--dport", &port, "-j", "DROP"];
            let mut add = vec!["iptables", "-w", "-A"];
            add.extend(rule);
            server_run(lab, &add);
            let mut undo = vec!["iptables", "-w", "-D"];
            undo.extend(rule);
            Installed::Commands(lab, vec![owned(&undo)])
        }
    }
}

fn uninstall(lab: &Lab, dropper: Dropper, loaded: &LoadedRoot, installed: Installed<'_>) {
    drop(installed);
    match dropper {
        Dropper::Fwxdp => {
            lab.fwxdp_ok(&["detach", SERVER_IF]);
        }
        Dropper::FwxdpLoaded => loaded.run(lab, &["detach", SERVER_IF]),
        _ => {}
    }
}

/// Blocked networks in the loaded candidate's pin root.
const BLOCKED: u32 = 100_000;
/// Networks given to one `fwxdp block` (the command line's length).
const BLOCKS_PER_COMMAND: usize = 5_000;

/// The loaded candidate's allow list and limits, at the product's limits: every UDP port
/// but the protected one open, every TCP port but it and 2,000 that 4 networks may reach
/// (8,000 of the 8,192 source-network entries), and two rate limits.
fn loaded_policy() -> Vec<String> {
    let below = PROTECTED - 1;
    let above = PROTECTED + 1;
    let mut args = vec![
        "--allow".to_owned(),
        format!("1-{below}/udp,{above}-65535/udp,1-{below}/tcp,{above}-9999/tcp,12000-65535/tcp"),
    ];
    for net in 0..4 {
        args.push("--allow".to_owned());
        args.push(format!("10000-11999/tcp@10.{net}.0.0/16"));
    }
    args.push("--limit".to_owned());
    args.push("22/tcp=4/60s,443/tcp=16/1s".to_owned());
    args
}

/// A pin root of its own for the loaded candidate, whose 100,000 blocks (shared by every
/// interface of a pin root) would otherwise be in the small candidate's way; removed when
/// dropped.
struct LoadedRoot {
    path: std::path::PathBuf,
}

impl LoadedRoot {
    fn new(lab: &Lab) -> Self {
        let mut path = lab.pin_root().as_os_str().to_owned();
        path.push("-loaded");
        let root = Self { path: path.into() };
        // None of them holds the flood's source (10.77.0.2).
        let blocks: Vec<String> = (0..BLOCKED).map(crate::verdict::blocked_network).collect();
        for chunk in blocks.chunks(BLOCKS_PER_COMMAND) {
            let mut args = vec!["block", "--all"];
            args.extend(chunk.iter().map(String::as_str));
            root.run(lab, &args);
        }
        root
    }

    /// Runs fwxdp with `args` on this pin root; it must succeed.
    fn run(&self, lab: &Lab, args: &[&str]) {
        let output = lab
            .fwxdp_command()
            .env("FWXDP_PIN_ROOT", &self.path)
            .args(args)
            .output()
            .expect("run fwxdp");
        assert!(
            output.status.success(),
            "fwxdp {:?} on {}: {}",
            args.first(),
            self.path.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for LoadedRoot {
    fn drop(&mut self) {
        let _: std::io::Result<()> = fs::remove_dir_all(&self.path);
    }
}

fn pin(pid: i32, cpu: usize) {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu).expect("a CPU set");
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(pid), &set)
        .unwrap_or_else(|e| panic!("pin {pid} to CPU {cpu}: {e}"));
}

/// The NAPI threads of interfaces named `iface` (every lab calls its server's the same),
/// by thread id.
fn napi_threads(iface: &str) -> Vec<i32> {
    let prefix = format!("napi/{iface}-");
    fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end().starts_with(&prefix))
        })
        .collect()
}

/// The CPU time a thread has run, from the scheduler's own account.
pub(crate) fn cpu_ns(tid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("a schedstat")
}

/// The frames the server interface's receive queue took in.
pub(crate) fn received(lab: &Lab) -> u64 {
    let output = lab
        .server
        .command("ethtool")
        .args(["-S", SERVER_IF])
        .output()
        .expect("ethtool -S");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.trim().strip_prefix("rx_queue_0_xdp_packets: "))
        .and_then(|v| v.trim().parse().ok())
        .expect("rx_queue_0_xdp_packets in ethtool -S")
}

/// Sends live SYNs to the protected port for [`send_for`], from the generator CPU.
fn flood(lab: &Lab, generator: &BareXdp, frame: &[u8], ifindex: u32) {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                pin(0, GENERATOR_CPU);
                lab.internet.within(|| {
                    let started = Instant::now();
                    while started.elapsed() < send_for() {
                        generator
                            .send_live(frame, ifindex, BURST)
                            .expect("BPF_PROG_RUN live frames");
                    }
                });
            })
            .join()
            .expect("the generator");
    });
}

fn ifindex(lab: &Lab, server: bool, iface: &str) -> u32 {
    let ns = if server { &lab.server } else { &lab.internet };
    let output = ns.ip(&["-j", "link", "show", "dev", iface]);
    let links: serde_json::Value = serde_json::from_slice(&output.stdout).expect("ip -j");
    u32::try_from(links[0]["ifindex"].as_u64().expect("ifindex")).expect("ifindex fits")
}

/// The lab and what floods it.
pub(crate) struct Rig {
    pub(crate) lab: Lab,
    /// The server interface's NAPI thread.
    pub(crate) napi: i32,
    frame: Vec<u8>,
    generator: BareXdp,
    /// The bare drop, and the one that counts.
    bare: [BareXdp; 2],
    loaded: LoadedRoot,
    server_if: u32,
    internet_if: u32,
}

impl Rig {
    pub(crate) fn new() -> Self {
        let lab = Lab::new();
        let before = napi_threads(SERVER_IF);
        lab.server.run(&["ethtool", "-K", SERVER_IF, "gro", "on"]);
        // sysfs shows a namespace's devices to those who mounted it there: `ip netns exec`.
        let threaded = Command::new("ip")
            .args(["netns", "exec", lab.server.name(), "sh", "-c"])
            .arg(format!("echo 1 > /sys/class/net/{SERVER_IF}/threaded"))
            .status()
            .expect("ip netns exec");
        assert!(threaded.success(), "threaded NAPI on {SERVER_IF}");
        let napi = napi_threads(SERVER_IF)
            .into_iter()
            .find(|tid| !before.contains(tid))
            .expect("the server interface's NAPI thread");
        pin(napi, RECEIVER_CPU);
        let frame = FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 40_000, PROTECTED, SYN)
            .macs(
                Lab::mac(&lab.internet, INTERNET_IF),
                Lab::mac(&lab.server, SERVER_IF),
            )
            .build();
        let generator = BareXdp::transmit_all().expect("load the generator");
        let bare = [
            BareXdp::drop_all().expect("load the bare drop"),
            BareXdp::count_and_drop().expect("load the counting drop"),
        ];
        let (server_if, internet_if) = (
            ifindex(&lab, true, SERVER_IF),
            ifindex(&lab, false, INTERNET_IF),
        );
        let loaded = LoadedRoot::new(&lab);
        Self {
            lab,
            napi,
            frame,
            generator,
            bare,
            loaded,
            server_if,
            internet_if,
        }
    }

    /// Puts `dropper` in place; it goes with the value returned, or [`Rig::uninstall`].
    pub(crate) fn install(&self, dropper: Dropper) -> Installed<'_> {
        install(&self.lab, dropper, &self.bare, &self.loaded, self.server_if)
    }

    pub(crate) fn uninstall(&self, dropper: Dropper, installed: Installed<'_>) {
        uninstall(&self.lab, dropper, &self.loaded, installed);
    }

    /// Floods the server with SYNs to the protected port for [`send_for`], from the
    /// receiver's CPU.
    pub(crate) fn flood(&self) {
        flood(&self.lab, &self.generator, &self.frame, self.internet_if);
    }
}
