//! `fwxdp metrics`: the drop counters as Prometheus scrapes them.

use std::{fs, net::IpAddr, process::Stdio, thread, time::Duration};

use fwxdp_tests::{
    lab::{
        CLIENT_V4, CLIENT_V6, INTERNET_IF, Lab, SERVER_IF, SERVER_V4, SERVER_V6,
        exporter::{self, curl, scrape, value},
        raw,
    },
    packet::{FrameBuilder, SYN},
};

fn syns(lab: &Lab, port: u16, n: u16) -> Vec<Vec<u8>> {
    let (src_mac, dst_mac) = (
        Lab::mac(&lab.internet, INTERNET_IF),
        Lab::mac(&lab.server, SERVER_IF),
    );
    (0..n)
        .flat_map(|i| {
            [
                FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, 30_000 + i, port, SYN),
                FrameBuilder::tcp_v6(CLIENT_V6, SERVER_V6, 31_000 + i, port, SYN),
            ]
        })
        .map(|b| b.macs(src_mac, dst_mac).build())
        .collect()
}

fn port_labels(port: &str) -> String {
    format!("interface=\"{SERVER_IF}\",proto=\"tcp\",port=\"{port}\",reason=\"port\"")
}

fn packets(text: &str, port: &str) -> u64 {
    value(text, "fwxdp_dropped_packets_total", &port_labels(port)).unwrap_or(0)
}

fn bytes(text: &str, port: &str) -> u64 {
    value(text, "fwxdp_dropped_bytes_total", &port_labels(port)).unwrap_or(0)
}

/// Scrapes until `port` shows `want` packets (XDP on a veth counts a moment after sending).
fn scrape_until(lab: &Lab, port: &str, want: u64) -> String {
    let mut text = scrape(lab);
    for _ in 0..100 {
        if packets(&text, port) == want {
            break;
        }
        thread::sleep(Duration::from_millis(20));
        text = scrape(lab);
    }
    text
}

#[test]
fn n_syns_raise_the_scraped_counter_by_exactly_n() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    exporter::start(&lab, &[]);
    raw::send(&lab.internet, INTERNET_IF, syns(&lab, 6379, 1));
    let before = scrape_until(&lab, "6379", 2);
    let frames = syns(&lab, 6379, 9);
    let sent_bytes: usize = frames.iter().map(Vec::len).sum();
    raw::send(&lab.internet, INTERNET_IF, frames);
    let after = scrape_until(&lab, "6379", 2 + 18);
    assert_eq!(
        packets(&after, "6379") - packets(&before, "6379"),
        18,
        "{after}"
    );
    assert_eq!(
        bytes(&after, "6379") - bytes(&before, "6379"),
        sent_bytes as u64,
        "bytes must match the frames sent"
    );
    let attached = format!("interface=\"{SERVER_IF}\",mode=\"native\"");
    assert_eq!(
        value(&after, "fwxdp_attached", &attached),
        Some(1),
        "{after}"
    );
    let tcp = format!("interface=\"{SERVER_IF}\",proto=\"tcp\"");
    assert_eq!(
        value(&after, "fwxdp_allowed_ports", &tcp),
        Some(1),
        "{after}"
    );
    assert!(after.contains("fwxdp_build_info{version=\""), "{after}");
}

#[test]
fn stats_json_and_metrics_agree() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    exporter::start(&lab, &[]);
    let mut frames = syns(&lab, 5432, 3);
    frames.extend(syns(&lab, 8000, 2));
    raw::send(&lab.internet, INTERNET_IF, frames);
    let text = scrape_until(&lab, "8000", 4);
    let stats = lab.stats_json();
    let ports = stats["interfaces"][0]["ports"].as_array().expect("ports");
    assert_eq!(ports.len(), 2, "{stats}");
    for p in ports {
        let port = p["port"].to_string();
        assert_eq!(Some(packets(&text, &port)), p["packets"].as_u64(), "{port}");
        assert_eq!(Some(bytes(&text, &port)), p["bytes"].as_u64(), "{port}");
    }
    for reason in ["loopback", "malformed"] {
        let labels = format!("interface=\"{SERVER_IF}\",reason=\"{reason}\"");
        assert_eq!(
            value(&text, "fwxdp_dropped_packets_total", &labels),
            stats["interfaces"][0]["reasons"][reason]["packets"].as_u64(),
            "{reason}"
        );
    }
}

#[test]
fn promtool_accepts_a_real_scrape_and_the_server_answers_as_it_should() {
    let lab = Lab::new();
    // 9814 is allowed, so only the exporter's own listen address keeps it off the network.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,9814"]);
    exporter::start(&lab, &[]);
    raw::send(&lab.internet, INTERNET_IF, syns(&lab, 3306, 2));
    let text = scrape_until(&lab, "3306", 4);
    let out = fwxdp_tests::lab::run_with_input(
        lab.server.command("promtool").args(["check", "metrics"]),
        &text,
    );
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let status = |args: &[&str]| {
        let out = curl(
            &lab,
            &[&["-s", "-o", "/dev/null", "-w", "%{http_code}"], args].concat(),
        );
        String::from_utf8(out.stdout).expect("code")
    };
    let base = format!("http://{}", exporter::LISTEN);
    assert_eq!(status(&[&format!("{base}/metrics")]), "200");
    assert_eq!(status(&[&format!("{base}/")]), "200");
    assert_eq!(status(&[&format!("{base}/nope")]), "404");
    assert_eq!(status(&["-X", "POST", &format!("{base}/metrics")]), "405");
    assert_eq!(status(&["-X", "DELETE", &format!("{base}/")]), "405");
    let index = curl(&lab, &["-s", &format!("{base}/")]);
    assert!(String::from_utf8_lossy(&index.stdout).contains("href=\"/metrics\""));
    // The exporter listens on loopback only: not reachable from the internet side.
    let outside = probe_exporter_from_outside(&lab);
    assert_eq!(
        outside,
        fwxdp_tests::lab::probe::Tcp::Closed,
        "listening beyond loopback"
    );
}

fn probe_exporter_from_outside(lab: &Lab) -> fwxdp_tests::lab::probe::Tcp {
    lab.connect(IpAddr::V4(SERVER_V4), 9814)
}

#[test]
fn port_series_are_capped_and_the_rest_summed_exactly() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    exporter::start(&lab, &["--max-port-series", "3"]);
    // Five ports, in order: the first three keep their own series.
    for (i, port) in [1001u16, 1002, 1003, 1004, 1005].into_iter().enumerate() {
        let n = u16::try_from(i).expect("small") + 1;
        raw::send(&lab.internet, INTERNET_IF, syns(&lab, port, n));
        thread::sleep(Duration::from_millis(20));
    }
    let text = scrape_until(&lab, "other", 2 * (4 + 5));
    for (port, n) in [("1001", 1), ("1002", 2), ("1003", 3)] {
        assert_eq!(packets(&text, port), 2 * n, "{port}\n{text}");
    }
    assert_eq!(
        value(&text, "fwxdp_dropped_packets_total", &port_labels("1004")),
        None
    );
    assert_eq!(packets(&text, "other"), 2 * (4 + 5), "{text}");
    let series = text
        .lines()
        .filter(|l| l.starts_with("fwxdp_dropped_packets_total{") && l.contains("port="))
        .count();
    assert_eq!(
        series,
        3 + 2,
        "three ports and one other per protocol:\n{text}"
    );
}

#[test]
fn counters_never_go_backwards_across_policy_replacement() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    exporter::start(&lab, &[]);
    raw::send(&lab.internet, INTERNET_IF, syns(&lab, 5432, 4));
    let before = scrape_until(&lab, "5432", 8);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", "tc"]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,443", "--mode", "native"]);
    let after = scrape(&lab);
    for line in before.lines().filter(|l| l.starts_with("fwxdp_dropped_")) {
        let (series, old) = line.rsplit_once(' ').expect("sample");
        let new = after
            .lines()
            .find_map(|l| l.strip_prefix(series).map(str::trim))
            .unwrap_or_else(|| panic!("{series} vanished"));
        let (old, new): (u64, u64) = (old.parse().expect("old"), new.parse().expect("new"));
        assert!(new >= old, "{series} went from {old} to {new}");
    }
}

/// Removes a directory when dropped, also when the test fails.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _: std::io::Result<()> = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_real_prometheus_scrapes_the_drop_count() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    exporter::start(&lab, &[]);
    let dir = TempDir(std::env::temp_dir().join(format!("{}-prometheus", lab.id())));
    fs::create_dir_all(&dir.0).expect("prometheus dir");
    let config = dir.0.join("prometheus.yml");
    fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fwxdp\n    \
             static_configs:\n      - targets: ['{}']\n",
            exporter::LISTEN
        ),
    )
    .expect("write config");
    let mut prometheus = lab.server.command("prometheus");
    prometheus
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .arg("--web.listen-address=127.0.0.1:9090")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    lab.spawn(prometheus);
    raw::send(&lab.internet, INTERNET_IF, syns(&lab, 5432, 6));

    let query = format!(
        "query=sum(fwxdp_dropped_packets_total{{interface=\"{SERVER_IF}\",port=\"5432\"}})"
    );
    let mut last = String::new();
    for _ in 0..60 {
        let out = curl(
            &lab,
            &[
                "-s",
                "-G",
                "http://127.0.0.1:9090/api/v1/query",
                "--data-urlencode",
                &query,
            ],
        );
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if let Ok(reply) = serde_json::from_str::<serde_json::Value>(&last)
            && reply["data"]["result"][0]["value"][1] == "12"
        {
            return;
        }
        thread::sleep(Duration::from_millis(500));
    }
    panic!("Prometheus never reported 12 drops on port 5432; last answer: {last}");
}
