//! `cargo xtask demo`: a server with services on eight ports, what the internet reaches
//! before and after `fwxdp attach <if> --allow 22,80,443`, and the drop counters.
#![expect(
    unused_crate_dependencies,
    reason = "one package serves the test binaries and these tools; each needs only part of it"
)]

use std::{
    net::{IpAddr, SocketAddr},
    thread,
    time::Instant,
};

use fwxdp_tests::lab::{
    Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4, SERVER_V6,
    probe::{self, Tcp, Udp},
    services,
};

const TCP_SERVICES: [(u16, &str); 7] = [
    (22, "ssh"),
    (80, "http"),
    (443, "https"),
    (3000, "node dev server"),
    (5432, "postgres"),
    (6379, "redis"),
    (8000, "uvicorn / docker -p 8000"),
];
const UDP_SERVICES: [(u16, &str); 1] = [(53, "dns")];

fn main() {
    let started = Instant::now();
    let lab = Lab::new();
    println!(
        "sandbox: server namespace {} ({SERVER_V4}, {SERVER_V6}) on {SERVER_IF}, \
         internet namespace {}",
        lab.server.name(),
        lab.internet.name()
    );
    let _services: Vec<_> = TCP_SERVICES
        .iter()
        .map(|(port, _)| services::tcp(&lab.server, *port))
        .chain(
            UDP_SERVICES
                .iter()
                .map(|(port, _)| services::udp_echo(&lab.server, *port)),
        )
        .collect();
    println!("the server listens on 0.0.0.0 and [::]: TCP 22 80 443 3000 5432 6379 8000, UDP 53\n");

    println!("before: what a client on the internet reaches");
    let before = survey(&lab);
    print_survey(&before, None);

    println!("\n$ fwxdp attach {SERVER_IF} --allow 22,80,443");
    print!(
        "{}",
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,443"])
    );

    println!("\nafter: what a client on the internet reaches");
    let after = survey(&lab);
    print_survey(&after, Some(&before));

    println!("\n$ fwxdp stats {SERVER_IF}");
    print!("{}", lab.fwxdp_ok(&["stats", SERVER_IF]));
    println!("\n$ fwxdp status");
    print!("{}", lab.fwxdp_ok(&["status"]));

    let localhost = probe::tcp(
        &lab.server,
        None,
        SocketAddr::new("127.0.0.1".parse().expect("addr"), 5432),
        PROBE_TIMEOUT,
    );
    println!("\non the server itself, postgres over localhost: {localhost:?}");

    println!("\n$ fwxdp detach {SERVER_IF}");
    print!("{}", lab.fwxdp_ok(&["detach", SERVER_IF]));
    drop(lab);
    println!(
        "\nsandbox removed; the demo took {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// One row per (proto, port, family): whether it answered.
struct Row {
    proto: &'static str,
    port: u16,
    name: &'static str,
    v4: bool,
    v6: bool,
}

fn survey(lab: &Lab) -> Vec<Row> {
    thread::scope(|scope| {
        let tcp = TCP_SERVICES.iter().map(|&(port, name)| {
            scope.spawn(move || {
                let reach = |addr: IpAddr| lab.connect(addr, port) == Tcp::Open;
                Row {
                    proto: "tcp",
                    port,
                    name,
                    v4: reach(SERVER_V4.into()),
                    v6: reach(SERVER_V6.into()),
                }
            })
        });
        let udp = UDP_SERVICES.iter().map(|&(port, name)| {
            scope.spawn(move || {
                let reach = |addr: IpAddr| {
                    let to = SocketAddr::new(addr, port);
                    probe::udp(&lab.internet, None, to, PROBE_TIMEOUT) == Udp::Reply
                };
                Row {
                    proto: "udp",
                    port,
                    name,
                    v4: reach(SERVER_V4.into()),
                    v6: reach(SERVER_V6.into()),
                }
            })
        });
        let handles: Vec<_> = tcp.chain(udp).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("probe"))
            .collect()
    })
}

fn print_survey(rows: &[Row], before: Option<&[Row]>) {
    let word = |open: bool| if open { "open" } else { "closed" };
    println!(
        "  {:<10} {:<26} {:<8} {:<8}",
        "port", "service", "IPv4", "IPv6"
    );
    for (i, row) in rows.iter().enumerate() {
        let changed = before.is_some_and(|b| b[i].v4 != row.v4 || b[i].v6 != row.v6);
        println!(
            "  {:<10} {:<26} {:<8} {:<8}{}",
            format!("{}/{}", row.port, row.proto),
            row.name,
            word(row.v4),
            word(row.v6),
            if changed { "  <- closed by fwxdp" } else { "" }
        );
    }
}
