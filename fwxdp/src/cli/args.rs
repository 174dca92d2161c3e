//! The command line, as clap types: what each command accepts, and its help.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::{mode::AttachMode, state::DEFAULT_PIN_ROOT};

/// Close every port a server did not mean to open, before iptables or Docker see the packet.
#[derive(Debug, Parser)]
#[command(
    name = "fwxdp",
    version = concat!(env!("CARGO_PKG_VERSION"), " (bpf ", env!("FWXDP_BPF_DIGEST"), ")"),
    about,
    long_about = None
)]
pub struct Cli {
    /// Directory on a bpf filesystem where attached interfaces are pinned.
    #[arg(long, global = true, env = "FWXDP_PIN_ROOT", default_value = DEFAULT_PIN_ROOT)]
    pub pin_root: PathBuf,

    /// Directory for run-time files: the service's reload outcome and drop log socket, and
    /// changes waiting for `fwxdp confirm`.
    #[arg(long, global = true, env = "FWXDP_RUN_DIR", default_value = crate::service::control::DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Attach the filter to interfaces, or replace their allow list in place.
    Attach(AttachArgs),
    /// Add items to the running policy of attached interfaces (`fwxdp allow eth0 8000/tcp`),
    /// in place. It lasts until the next attach, reload or boot.
    Allow(EditArgs),
    /// Take items out of the running policy of attached interfaces (`fwxdp revoke eth0
    /// 8000/tcp`), in place: exactly what the same items would add.
    Revoke(EditArgs),
    /// Detach the filter from interfaces and remove their pins.
    Detach(DetachArgs),
    /// Show what is attached: mode, allow list, monitor flag, attach time, program id.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run as a service: attach what the config lists, serve metrics, reload on SIGHUP.
    Run {
        /// The config file.
        #[arg(long, default_value = crate::service::config::DEFAULT_PATH)]
        config: PathBuf,
        /// Where the last config applied successfully is kept, for a boot with a broken one.
        #[arg(long, env = "FWXDP_STATE_DIR", default_value = crate::service::last_good::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Ask the running service to reload its config, and wait for its answer: exits
    /// non-zero when the reload is refused (the unit's reload command).
    Reload {
        /// The service's process (systemd's $MAINPID); by default, the one that runs.
        #[arg(long)]
        pid: Option<i32>,
        /// Revert to the config in force before unless `fwxdp confirm` comes within this
        /// long (`60s`, `5m`); the service keeps the new file only once it is confirmed.
        #[arg(long, value_name = "DURATION")]
        confirm: Option<humantime::Duration>,
    },
    /// Write the running state of every attached interface as the service's config file,
    /// so that `fwxdp run` at boot restores exactly it. An existing file is edited: its
    /// comments, `[metrics]` and the tables that already say what runs are kept.
    Save {
        /// The config file.
        #[arg(long, default_value = crate::service::config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Show how the running state differs from a config file (what a boot with it would
    /// change); exits 1 when it differs.
    Diff {
        /// The config file.
        #[arg(long, default_value = crate::service::config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Keep the change made with --confirm that waits for confirmation; without it, the
    /// change is reverted at the end of its window. Exits 1 when no change waits.
    Confirm,
    /// Reverts a change made with --confirm at the end of its window unless it was
    /// confirmed (what the timer or the process arranged by --confirm runs).
    #[command(hide = true)]
    RevertPending {
        #[arg(long)]
        id: String,
        /// Seconds of the boot-time clock (`CLOCK_BOOTTIME`).
        #[arg(long)]
        deadline: u64,
    },
    /// Print a completion script for a shell: `fwxdp completions bash >
    /// /etc/bash_completion.d/fwxdp` (the Debian package installs them).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the man pages (`fwxdp.8` and one per command) into a directory.
    #[command(hide = true)]
    ManPages {
        /// Where to write them.
        dir: PathBuf,
    },
    /// Validate a config file and change nothing.
    Check {
        /// The config file.
        #[arg(long, default_value = crate::service::config::DEFAULT_PATH)]
        config: PathBuf,
    },
    /// Serve the drop counters for Prometheus until interrupted.
    Metrics {
        /// Address to listen on; keep it on loopback or a private network.
        #[arg(long, default_value = "127.0.0.1:9814")]
        listen: std::net::SocketAddr,
        /// Port series per interface; further ports are summed under port="other".
        #[arg(long, default_value_t = crate::metrics::DEFAULT_MAX_PORT_SERIES)]
        max_port_series: usize,
    },
    /// Drop every packet from sources, on every interface or on the ones named, before the
    /// allow list (for fail2ban, `CrowdSec` or by hand).
    Block(BlockArgs),
    /// Remove blocks given by `block`.
    Unblock(UnblockArgs),
    /// List the blocks in force.
    Blocks {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the drop log: what was dropped, with addresses and ports (as many a second as
    /// `--log-rate` lets through). From the running service when there is one.
    Log {
        /// Keep showing new drops until interrupted.
        #[arg(long, short)]
        follow: bool,
        /// Print JSON, one object a line.
        #[arg(long)]
        json: bool,
    },
    /// Show which listening ports (sockets, and ports published by NAT such as Docker's)
    /// are reachable from outside, per interface and family, and which interfaces carry
    /// traffic with no filter.
    Audit {
        /// Print JSON (a stable shape: `entries`, `unfiltered_interfaces`, `notes`,
        /// `summary`).
        #[arg(long)]
        json: bool,
    },
    /// Show counters per reason and drops per port.
    Stats {
        /// Only this interface.
        iface: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Interfaces to filter (never lo).
    #[arg(required = true, value_name = "IFACE")]
    pub ifaces: Vec<String>,

    /// Ports and protocols to allow, comma-separated and repeatable:
    /// `22,80,443` (TCP and UDP)  `8000-8100/tcp`  `53/udp`  `5000/sctp`  `5300/udplite`
    /// `5432@10.0.0.0/8`  `22@2001:db8::/32`  `ip:esp`  `ip:gre@203.0.113.0/24`  `ip:112`
    #[arg(long, required_unless_present = "limit", value_name = "SPEC")]
    pub allow: Vec<String>,

    /// Per-source rate limits on new connections, comma-separated and repeatable:
    /// `22/tcp=4/60s` allows port 22 to every source, at most 4 new connections per source
    /// address (IPv6: per /64) in any 60 s.
    #[arg(long, value_name = "PORT/PROTO=COUNT/WINDOW")]
    pub limit: Vec<String>,

    /// How to attach [default: auto; an attached interface keeps its mode unless one is
    /// given].
    #[arg(long, value_enum)]
    pub mode: Option<AttachMode>,

    /// Count what would be dropped, drop nothing.
    #[arg(long)]
    pub monitor: bool,

    /// Drop events logged per second on each CPU (`fwxdp log`, the service's journal); 0
    /// logs none. What the bound leaves out is counted.
    #[arg(long, value_name = "N", default_value_t = fwxdp_common::LOG_RATE_DEFAULT)]
    pub log_rate: u32,

    /// Apply even though the allow list would refuse new logins over the SSH session this
    /// command runs in.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub window: ConfirmWindow,
}

/// `--confirm` on the commands that change a policy.
#[derive(Debug, Args)]
pub struct ConfirmWindow {
    /// Revert the change unless `fwxdp confirm` comes within this long (`60s`, `5m`): a
    /// change that cuts this session off undoes itself.
    #[arg(long, value_name = "DURATION")]
    pub confirm: Option<humantime::Duration>,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Interface names, then items, as `attach --allow` and `--limit` take them: `eth0 eth1
    /// 8000/tcp 5432@10.0.0.0/8 ip:esp 22/tcp=4/60s` (commas work too). A word that starts
    /// with a digit or `ip:` is an item. With --all, only items.
    #[arg(required = true, value_name = "IFACE|ITEM")]
    pub targets: Vec<String>,

    /// Every attached interface.
    #[arg(long)]
    pub all: bool,

    /// Apply even though the result would refuse new logins over the SSH session this
    /// command runs in.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub window: ConfirmWindow,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["ifaces", "all"])))]
pub struct DetachArgs {
    /// Interfaces to detach.
    #[arg(value_name = "IFACE")]
    pub ifaces: Vec<String>,

    /// Detach every attached interface.
    #[arg(long, conflicts_with = "ifaces")]
    pub all: bool,

    #[command(flatten)]
    pub window: ConfirmWindow,
}

#[derive(Debug, Args)]
pub struct BlockArgs {
    /// Interface names and addresses or networks, in any order: `eth0 203.0.113.7
    /// 2001:db8::/32`. With --all, only addresses and networks.
    #[arg(required = true, value_name = "IFACE|CIDR")]
    pub targets: Vec<String>,

    /// On every interface, attached now or later.
    #[arg(long)]
    pub all: bool,

    /// Lift the block after this long (`10m`, `1h`, `2d`); for good without.
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<humantime::Duration>,

    /// Block even a network that holds the client of the SSH session this command runs in.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct UnblockArgs {
    /// Interface names and addresses or networks, as `block` was given them.
    #[arg(required = true, value_name = "IFACE|CIDR")]
    pub targets: Vec<String>,

    /// The blocks on every interface.
    #[arg(long)]
    pub all: bool,
}
