//! The service's figures: a `/metrics` scrape, and how soon an interface that appears is
//! filtered.

use std::time::{Duration, Instant};

use aya::programs::{TestRun as _, TestRunOptions};
use fwxdp::{attach::Loaded, metrics, policy::Policy, state::PinRoot};
use fwxdp_common::Config;
use fwxdp_tests::lab::{
    Lab,
    daemon::{Service, interface},
};

use crate::verdict::syn;

/// One `/metrics` rendering with 4,096 port series: the maps are pinned where the exporter
/// reads them and filled through the real program.
pub(crate) fn scrape_cost() {
    const PORTS: u16 = 4096;
    const SCRAPES: u32 = 20;
    let root = std::path::PathBuf::from(format!("/sys/fs/bpf/fwxdp-bench-{}", std::process::id()));
    let dir = root.join("bench0");
    std::fs::create_dir_all(&dir).expect("bench pin dir");
    let policy = Policy::parse(&["22"]).expect("policy");
    let mut loaded = Loaded::new(&policy, &Config::default(), Some(&dir)).expect("load");
    let xdp = loaded.xdp().expect("load XDP");
    for port in 1000..1000 + PORTS {
        let frame = syn(port).build();
        xdp.test_run(TestRunOptions {
            data_in: Some(&frame),
            ..TestRunOptions::default()
        })
        .expect("test run");
    }
    let pins = PinRoot::new(&root);
    let options = metrics::Options {
        max_port_series: usize::from(PORTS),
        ..metrics::Options::default()
    };
    let text = metrics::render(&pins, &options).expect("render");
    let series = text
        .lines()
        .filter(|l| l.starts_with("fwxdp_dropped_packets_total{") && l.contains("port=\""))
        .count();
    let mut worst = Duration::ZERO;
    let started = Instant::now();
    for _ in 0..SCRAPES {
        let one = Instant::now();
        let _: Result<String, std::fmt::Error> = metrics::render(&pins, &options);
        worst = worst.max(one.elapsed());
    }
    let mean = started.elapsed() / SCRAPES;
    drop(loaded);
    let _: std::io::Result<()> = std::fs::remove_dir_all(&root);
    println!(
        "\nscrape (/metrics rendering) with {series} port series: {:.1} ms mean, {:.1} ms worst \
         of {SCRAPES}",
        mean.as_secs_f64() * 1e3,
        worst.as_secs_f64() * 1e3
    );
}

/// How long the service takes to filter an interface that appears, from the link event to
/// the ingress link in place (the service's own `took_ms`). Each round makes a veth pair,
/// so two interfaces appear in one batch: the first takes the spare instance the service
/// verified ahead of need, the second loads its own (the baseline, in the same run).
pub(crate) fn late_interface() {
    const ROUNDS: usize = 8;
    let lab = Lab::new();
    let service = Service::start(
        &lab,
        &format!(
            "{}\n[[interface]]\nname = \"lat*\"\nallow = [\"22\"]\n",
            interface("22")
        ),
    );
    service.wait_ready();
    let (mut spared, mut own) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        service.until("a spare prepared", || {
            service
                .log()
                .matches("prepared a verified instance")
                .count()
                > round
        });
        let (a, b) = (format!("lat{round}a"), format!("lat{round}b"));
        lab.server
            .ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        service.until("both filtered", || {
            service
                .log()
                .matches("filtering an interface that appeared")
                .count()
                >= 2 * (round + 1)
        });
    }
    for line in service
        .log()
        .lines()
        .filter(|l| l.contains("filtering an interface that appeared"))
    {
        let took: u64 = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("took_ms="))
            .and_then(|v| v.parse().ok())
            .expect("took_ms in the log line");
        if line.contains("spared=true") {
            spared.push(took);
        } else {
            own.push(took);
        }
    }
    let summary = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v.get(v.len() / 2).map_or_else(
            || "none".to_owned(),
            |median| {
                format!(
                    "median {median} ms, worst {} ms of {}",
                    v[v.len() - 1],
                    v.len()
                )
            },
        )
    };
    println!("\nan interface that appears, event to filter in place (goal: 100 ms)");
    println!("{:<42} {}", "with the spare instance", summary(&mut spared));
    println!("{:<42} {}", "loading its own (baseline)", summary(&mut own));
}
