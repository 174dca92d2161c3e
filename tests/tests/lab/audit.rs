//! `fwxdp audit --json` against nmap: in each scenario, the ports audit calls reachable from
//! a client are exactly the ports an nmap TCP and UDP scan from that client finds open.

use std::{
    collections::BTreeSet,
    net::{IpAddr, Ipv4Addr},
};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT_V6, CLIENT2_V4, INTERNET_IF, Lab, SERVER_IF, SERVER_V4, SERVER_V6,
    docker::DockerHost, netns, services,
};

/// (protocol, port).
type Ports = BTreeSet<(String, u16)>;

/// Ports probed beside those audit lists: nothing listens there.
const SPARE: &[(&str, u16)] = &[("tcp", 9999), ("udp", 9998)];

/// What audit says `client` reaches on `iface` over `family`, among `ports`.
fn reachable(audit: &serde_json::Value, iface: &str, client: IpAddr, ports: &Ports) -> Ports {
    let family = if client.is_ipv4() { "ipv4" } else { "ipv6" };
    let entries = audit["entries"].as_array().expect("entries");
    entries
        .iter()
        .filter(|e| e["interface"] == iface && e["family"] == family)
        .filter(|e| match e["exposure"].as_str().expect("exposure") {
            "everyone" | "unfiltered" => true,
            "cidr" => e["cidrs"].as_array().expect("cidrs").iter().any(|net| {
                net.as_str()
                    .and_then(|n| n.parse::<ipnet::IpNet>().ok())
                    .is_some_and(|n| n.contains(&client))
            }),
            _ => false,
        })
        .map(|e| {
            (
                e["proto"].as_str().expect("proto").to_owned(),
                u16::try_from(e["port"].as_u64().expect("port")).expect("port"),
            )
        })
        .filter(|p| ports.contains(p))
        .collect()
}

/// Every port audit lists for `iface`, and the spare ones.
fn ports_of(audit: &serde_json::Value, iface: &str) -> Ports {
    let mut ports: Ports = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["interface"] == iface)
        .map(|e| {
            (
                e["proto"].as_str().expect("proto").to_owned(),
                u16::try_from(e["port"].as_u64().expect("port")).expect("port"),
            )
        })
        .collect();
    ports.extend(SPARE.iter().map(|(p, n)| ((*p).to_owned(), *n)));
    ports
}

/// The ports an nmap SYN and UDP scan of `target` from `client` (on `via`) finds open.
fn nmap_open(lab: &Lab, client: IpAddr, via: &str, target: IpAddr, ports: &Ports) -> Ports {
    let list = |proto: &str| -> Vec<String> {
        ports
            .iter()
            .filter(|(p, _)| p == proto)
            .map(|(_, n)| n.to_string())
            .collect()
    };
    let spec = format!("T:{},U:{}", list("tcp").join(","), list("udp").join(","));
    let mut cmd = lab.internet.command("nmap");
    if target.is_ipv6() {
        cmd.arg("-6");
    }
    cmd.args([
        "-n",
        "-Pn",
        "-sS",
        "-sU",
        "-T4",
        "--max-retries",
        "2",
        "-p",
        &spec,
    ])
    .args(["-S", &client.to_string(), "-e", via, "-oG", "-"])
    .arg(target.to_string());
    let out = cmd.output().expect("run nmap");
    assert!(out.status.success(), "nmap: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut open = Ports::new();
    for line in text.lines().filter(|l| l.contains("Ports:")) {
        let list = line.split("Ports:").nth(1).expect("ports");
        for item in list.split(',') {
            let fields: Vec<&str> = item.trim().split('/').collect();
            if fields.len() > 2 && fields[1] == "open" {
                open.insert((fields[2].to_owned(), fields[0].parse().expect("port")));
            }
        }
    }
    open
}

/// Audit and nmap agree for `client` scanning `target` through the server's `iface`.
fn agree(lab: &Lab, iface: &str, client: IpAddr, via: &str, target: IpAddr) -> Ports {
    let audit = audit_json(lab);
    let ports = ports_of(&audit, iface);
    let said = reachable(&audit, iface, client, &ports);
    let found = nmap_open(lab, client, via, target, &ports);
    assert_eq!(
        said, found,
        "{client} -> {target} over {iface}; audit: {audit:#}"
    );
    said
}

fn audit_json(lab: &Lab) -> serde_json::Value {
    serde_json::from_str(&lab.fwxdp_ok(&["audit", "--json"])).expect("audit JSON")
}

fn set(items: &[(&str, u16)]) -> Ports {
    items.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect()
}

#[test]
fn plain_services_on_every_address_and_on_loopback_v4_and_v6() {
    let lab = Lab::new();
    let _open = services::tcp_ports(&lab.server, &[22, 80, 5432]);
    let _dns = services::udp_echo(&lab.server, 53);
    let _mdns = services::udp_echo(&lab.server, 5353);
    let _redis = lab
        .server
        .enter(|| std::net::TcpListener::bind(("127.0.0.1", 6379)).expect("bind"));
    let _admin = lab
        .server
        .enter(|| std::net::TcpListener::bind(("::1", 8080)).expect("bind"));
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80/tcp,53/udp"]);
    let want = set(&[("tcp", 22), ("tcp", 80), ("udp", 53)]);
    assert_eq!(
        agree(
            &lab,
            SERVER_IF,
            CLIENT_V4.into(),
            INTERNET_IF,
            SERVER_V4.into()
        ),
        want
    );
    assert_eq!(
        agree(
            &lab,
            SERVER_IF,
            CLIENT_V6.into(),
            INTERNET_IF,
            SERVER_V6.into()
        ),
        want
    );
    let audit = audit_json(&lab);
    let loopback = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["port"] == 6379 || e["port"] == 8080)
        .all(|e| e["exposure"] == "loopback");
    assert!(loopback, "{audit:#}");
    let owner = audit["entries"][0]["process"].as_str().unwrap_or_default();
    assert!(owner.contains('['), "{audit:#}");
}

#[test]
fn docker_published_ports_are_judged_by_the_port_they_come_for() {
    let lab = Lab::new();
    let docker = DockerHost::install(&lab, &[8000, 443]);
    let _app = services::tcp(&docker.container, 8000);
    let _https = services::tcp(&docker.container, 443);
    let _ssh = services::tcp(&lab.server, 22);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,443/tcp"]);
    let found = agree(
        &lab,
        SERVER_IF,
        CLIENT_V4.into(),
        INTERNET_IF,
        SERVER_V4.into(),
    );
    assert_eq!(found, set(&[("tcp", 22), ("tcp", 443)]));
    let audit = audit_json(&lab);
    let published = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .any(|e| e["source"] == "nat" && e["port"] == 8000 && e["exposure"] == "protected");
    assert!(published, "{audit:#}");
    // Before the filter, the published port was what leaked.
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    let found = agree(
        &lab,
        SERVER_IF,
        CLIENT_V4.into(),
        INTERNET_IF,
        SERVER_V4.into(),
    );
    assert!(found.contains(&("tcp".to_owned(), 8000)), "{found:?}");
}

#[test]
fn cidr_restricted_ports_from_inside_and_outside_the_network() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22, 5432, 6379]);
    let inside = format!("5432@{CLIENT_V4}/32");
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", &format!("22,{inside}")]);
    let from_inside = agree(
        &lab,
        SERVER_IF,
        CLIENT_V4.into(),
        INTERNET_IF,
        SERVER_V4.into(),
    );
    assert_eq!(from_inside, set(&[("tcp", 22), ("tcp", 5432)]));
    let from_outside = agree(
        &lab,
        SERVER_IF,
        CLIENT2_V4.into(),
        INTERNET_IF,
        SERVER_V4.into(),
    );
    assert_eq!(from_outside, set(&[("tcp", 22)]));
}

#[test]
fn an_unfiltered_second_interface_is_named_and_reaches_everything() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22, 5432]);
    let _dns = services::udp_echo(&lab.server, 53);
    let (server_if, client_if) = ("fwxb0", "fwxb1");
    let (server, client) = (Ipv4Addr::new(10, 78, 0, 1), Ipv4Addr::new(10, 78, 0, 2));
    netns::veth(&lab.server, server_if, &lab.internet, client_if);
    for (ns, iface, addr) in [
        (&lab.server, server_if, server),
        (&lab.internet, client_if, client),
    ] {
        ns.ip(&["addr", "add", &format!("{addr}/24"), "dev", iface]);
        ns.ip(&["link", "set", iface, "up"]);
    }
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let filtered = agree(
        &lab,
        SERVER_IF,
        CLIENT_V4.into(),
        INTERNET_IF,
        SERVER_V4.into(),
    );
    assert_eq!(filtered, set(&[("tcp", 22)]));
    let open = agree(&lab, server_if, client.into(), client_if, server.into());
    assert_eq!(open, set(&[("tcp", 22), ("tcp", 5432), ("udp", 53)]));
    let audit = audit_json(&lab);
    let named = audit["unfiltered_interfaces"]
        .as_array()
        .expect("list")
        .iter()
        .any(|u| u["interface"] == server_if && u["why"] == "not attached");
    assert!(named, "{audit:#}");
    assert!(
        audit["summary"]
            .as_str()
            .is_some_and(|s| s.contains(server_if))
    );
}
