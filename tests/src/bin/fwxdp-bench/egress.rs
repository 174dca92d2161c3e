//! What the egress flow tracker costs a bulk TCP upload: iperf3 from the server namespace
//! over the lab's veth, with and without fwxdp attached (its TC egress program runs on every
//! outbound packet), rounds interleaved. The cost is the machine's busy CPU time
//! (`/proc/stat`, all CPUs: sender, receiver and their softirqs) per byte moved.

use std::{fs, process::Stdio, time::Duration};

use fwxdp_tests::lab::{CLIENT_V4, Lab, SERVER_IF};

const ROUNDS: usize = 5;
const SECONDS: u64 = 3;
const PORT: u16 = 5201;

/// Busy and total CPU time of the whole machine, in clock ticks.
fn cpu_ticks() -> (u64, u64) {
    let stat = fs::read_to_string("/proc/stat").expect("/proc/stat");
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .expect("the cpu line")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    let total: u64 = fields.iter().take(8).sum();
    (total - idle, total)
}

/// One upload: bytes sent and busy CPU ticks.
fn upload(lab: &Lab) -> (f64, u64) {
    let before = cpu_ticks();
    let output = lab
        .server
        .command("iperf3")
        .args(["-c", &CLIENT_V4.to_string(), "-p", &PORT.to_string()])
        .args(["-t", &SECONDS.to_string(), "-J"])
        .stderr(Stdio::null())
        .output()
        .expect("run iperf3");
    let after = cpu_ticks();
    assert!(output.status.success(), "iperf3 client failed");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("iperf3 JSON");
    let bytes = report["end"]["sum_sent"]["bytes"]
        .as_f64()
        .expect("bytes sent");
    (bytes, after.0 - before.0)
}

/// Runs the bench and prints its figures.
pub(crate) fn upload_cost() {
    let lab = Lab::new();
    let mut server = lab.internet.command("iperf3");
    server
        .args(["-s", "-p", &PORT.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    lab.spawn(server);
    std::thread::sleep(Duration::from_millis(500));
    let (mut bare, mut tracked) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (bytes, ticks) = upload(&lab);
        bare.push((bytes, ticks));
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
        let (bytes, ticks) = upload(&lab);
        tracked.push((bytes, ticks));
        lab.fwxdp_ok(&["detach", SERVER_IF]);
    }
    let per_gb = |runs: &[(f64, u64)]| {
        let mut v: Vec<f64> = runs
            .iter()
            .map(|(bytes, ticks)| *ticks as f64 / (bytes / 1e9))
            .collect();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let rate = |runs: &[(f64, u64)]| {
        runs.iter().map(|(bytes, _)| bytes).sum::<f64>() * 8.0
            / (runs.len() as f64 * SECONDS as f64)
            / 1e9
    };
    let (without, with) = (per_gb(&bare), per_gb(&tracked));
    println!(
        "\negress: a bulk TCP upload (iperf3, {ROUNDS} interleaved rounds of {SECONDS} s), \
         busy CPU per GB moved"
    );
    println!(
        "{:<46} {without:>7.1} ticks/GB, {:.1} Gbit/s",
        "without fwxdp",
        rate(&bare)
    );
    println!(
        "{:<46} {with:>7.1} ticks/GB, {:.1} Gbit/s ({:+.1} %, goal at most +2 %)",
        "with fwxdp attached (egress tracker)",
        rate(&tracked),
        (with / without - 1.0) * 100.0
    );
}
