//! The control plane as an operator meets it: the wall time of `fwxdp` commands (process
//! start to exit) in a lab, the peak memory of a fresh attach, and the service's resident
//! memory.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{
    Lab, SERVER_IF,
    daemon::{Service, interface},
};

const ROUNDS: usize = 9;

/// A finished command: its wall time and peak resident memory.
struct Run {
    took: Duration,
    max_rss_kib: i64,
}

/// Runs `cmd` to its end; panics unless it succeeds.
fn run(mut cmd: Command) -> Run {
    let started = Instant::now();
    let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let pid = i32::try_from(child.id()).expect("a pid");
    let mut status = 0;
    // SAFETY: rusage is plain integers, all-zero is valid; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which `child` does not wait for again (the child
    // is reaped here; dropping a `Child` does not wait).
    let rc = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let took = started.elapsed();
    assert_eq!(rc, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{cmd:?} failed ({status:#x})"
    );
    drop(child);
    Run {
        took,
        max_rss_kib: usage.ru_maxrss,
    }
}

fn fwxdp(lab: &Lab, args: &[&str]) -> Command {
    let mut cmd = lab.fwxdp_command();
    cmd.args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    cmd
}

fn median(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort_unstable();
    (v[v.len() / 2], v[v.len() - 1])
}

fn report(name: &str, goal: &str, runs: &[Run]) {
    let (mid, worst) = median(runs.iter().map(|r| r.took).collect());
    println!(
        "{name:<46} {:>6.1} ms median, {:>6.1} ms worst of {} (goal {goal})",
        mid.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3,
        runs.len()
    );
}

/// Fresh attach, replace in place (a small change, and a change to a policy of 1,001
/// ports), status, and the service's memory.
pub(crate) fn commands() {
    let lab = Lab::new();
    println!("\ncontrol plane: wall time of a fwxdp command, process start to exit");
    let mut fresh = Vec::new();
    for _ in 0..ROUNDS {
        fresh.push(run(fwxdp(
            &lab,
            &["attach", SERVER_IF, "--allow", "22,80,443"],
        )));
        run(fwxdp(&lab, &["detach", SERVER_IF]));
    }
    report("fresh attach (--allow 22,80,443)", "100 ms", &fresh);
    run(fwxdp(&lab, &["attach", SERVER_IF, "--allow", "22,80,443"]));
    let small = replacements(&lab, ["22,80,443,8080", "22,80,443"]);
    report("replace in place, one port more or less", "10 ms", &small);
    let large = replacements(&lab, ["22,1000-2000", "22,1000-2001"]);
    report("replace in place, 1,001 open ports", "10 ms", &large);
    let status: Vec<Run> = (0..ROUNDS * 2)
        .map(|_| run(fwxdp(&lab, &["status"])))
        .collect();
    report("status", "10 ms", &status);
    let peak = fresh.iter().map(|r| r.max_rss_kib).max().unwrap_or(0);
    println!(
        "{:<46} {:>6.1} MB peak resident",
        "fresh attach, memory",
        peak as f64 / 1024.0
    );
    run(fwxdp(&lab, &["detach", SERVER_IF]));
    service_memory(&lab);
}

/// Replaces the attached policy in place with each of `policies` in turn, `ROUNDS` times.
fn replacements(lab: &Lab, policies: [&str; 2]) -> Vec<Run> {
    (0..ROUNDS * 2)
        .map(|i| {
            run(fwxdp(
                lab,
                &["attach", SERVER_IF, "--allow", policies[i % 2]],
            ))
        })
        .collect()
}

/// The service's resident memory once it filters the lab's interface and has settled, and
/// its peak since it started.
fn service_memory(lab: &Lab) {
    let service = Service::start(lab, &interface("22,80,443"));
    service.wait_ready();
    std::thread::sleep(Duration::from_secs(3));
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.pid))
        .expect("the service's /proc status");
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kib| kib.parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / 1024.0)
    };
    println!(
        "{:<46} {:>6.1} MB resident, {:.1} MB peak (goals 12 MB and 20 MB)",
        "service (fwxdp run), one interface",
        field("VmRSS:"),
        field("VmHWM:")
    );
}
