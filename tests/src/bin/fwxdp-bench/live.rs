//! The live drop bench: a SYN flood to a protected port over a veth pair, each dropper in
//! turn on the receiving side, the receive CPU's time per packet measured.
//!
//! The cost of a packet is the NAPI thread's CPU time (`/proc/<tid>/schedstat`) over the frames the
//! receiving queue took in (`rx_queue_0_xdp_packets`): everything from the ring to the
//! drop, XDP or the stack up to nftables or iptables. Candidates take turns every round, so
//! a drift of the machine spreads over all of them; the table shows medians and each
//! median's ratio to the bare `XDP_DROP` program's (`rig` says how it is set up).

use std::time::Duration;

use crate::rig::{Dropper, ROUNDS, Rig, cpu_ns, received, send_for};

/// Runs the live bench and prints its table.
pub(crate) fn drops() {
    let rig = Rig::new();
    let (lab, napi) = (&rig.lab, rig.napi);
    let mut raw: Vec<(Dropper, Vec<f64>, Vec<u64>)> = Dropper::ALL
        .iter()
        .map(|&d| (d, Vec::new(), Vec::new()))
        .collect();
    for round in 0..ROUNDS {
        // Rotated, so that no candidate always runs first.
        for k in 0..Dropper::ALL.len() {
            let dropper = Dropper::ALL[(round + k) % Dropper::ALL.len()];
            if std::env::var("FWXDP_BENCH_ONLY").is_ok_and(|only| !dropper.name().contains(&only)) {
                continue;
            }
            let installed = rig.install(dropper);
            let (cpu, got) = (cpu_ns(napi), received(lab));
            rig.flood();
            std::thread::sleep(Duration::from_millis(100));
            let (cpu, got) = (cpu_ns(napi) - cpu, received(lab) - got);
            rig.uninstall(dropper, installed);
            let entry = raw.iter_mut().find(|(d, ..)| *d == dropper).expect("a row");
            entry.1.push(cpu as f64 / got.max(1) as f64);
            entry.2.push(got);
        }
    }
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let floor = median(&raw[0].1);
    println!(
        "\nlive drop cost: SYN flood to a protected port over veth, receive CPU per packet \
         ({ROUNDS} rounds of {} s, candidates rotated)",
        send_for().as_secs()
    );
    println!("\n| dropper | ns/pkt | × bare XDP_DROP | Mpps received |");
    println!("|---|---|---|---|");
    for (dropper, ns, got) in &raw {
        let ns_median = median(ns);
        let mpps =
            got.iter().sum::<u64>() as f64 / (got.len() as f64 * send_for().as_secs_f64()) / 1e6;
        println!(
            "| {} | {ns_median:.0} | {:.2} | {mpps:.2} |",
            dropper.name(),
            ns_median / floor
        );
    }
    println!("\nraw ns/pkt per round:");
    for (dropper, ns, _) in &raw {
        let values: Vec<String> = ns.iter().map(|v| format!("{v:.0}")).collect();
        println!("  {:<36} {}", dropper.name(), values.join(" "));
    }
}
