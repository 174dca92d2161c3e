//! `cargo xtask bench`: the cost of one verdict, measured in the kernel with
//! `BPF_PROG_TEST_RUN` on the real program, for a small and a large policy, next to a bare
//! `XDP_DROP` program; rate limits, the blocklist, the drop log and socket lookups; a
//! scrape; how soon the service filters an interface that appears; and the control plane's
//! commands and memory; a live flood, and an upload through the egress tracker. Names given
//! on the command line run those sections alone.
#![expect(
    clippy::cast_precision_loss,
    reason = "figures are printed to a few digits"
)]
#![expect(
    unused_crate_dependencies,
    reason = "one package serves the test binaries and these tools; each needs only part of it"
)]

mod control;
mod egress;
mod live;
mod rig;
mod service;
mod verdict;

/// Every section, by the name that runs it alone (`fwxdp-bench control live`).
const SECTIONS: [(&str, fn()); 10] = [
    ("verdict", verdict::table),
    ("limits", verdict::limit_cost),
    ("blocklist", verdict::blocklist_cost),
    ("droplog", verdict::droplog_cost),
    ("scrape", service::scrape_cost),
    ("sockets", verdict::socket_lookup_cost),
    ("late", service::late_interface),
    ("control", control::commands),
    ("live", live::drops),
    ("egress", egress::upload_cost),
];

fn main() {
    let asked: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = asked
        .iter()
        .find(|a| !SECTIONS.iter().any(|(name, _)| name == a))
    {
        let names: Vec<&str> = SECTIONS.iter().map(|(name, _)| *name).collect();
        eprintln!(
            "fwxdp-bench: no section {unknown:?}; the sections: {}",
            names.join(", ")
        );
        std::process::exit(2);
    }
    for (name, section) in SECTIONS {
        if asked.is_empty() || asked.iter().any(|a| a == name) {
            section();
        }
    }
}
