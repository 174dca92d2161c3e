//! A Docker host in the lab: a bridge with a "container" namespace behind it, the iptables
//! rules Docker 28 installs for published ports, and ufw-like INPUT rules. Everything lives
//! in the lab's server namespace; the machine's own firewall is never touched.

use std::net::Ipv4Addr;

use super::{Lab, netns::Netns};

/// The bridge Docker makes.
pub const BRIDGE: &str = "docker0";
/// The bridge's address: the containers' gateway.
pub const BRIDGE_V4: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 1);
/// The container's address.
pub const CONTAINER_V4: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 2);
/// The container's interface, inside its namespace.
pub const CONTAINER_IF: &str = "ceth0";
/// The host end of the container's veth, enslaved to the bridge.
const HOST_VETH: &str = "vethc0";

/// The container namespace; deleted on drop (before the lab, when declared after it).
#[derive(Debug)]
pub struct DockerHost {
    /// The container, behind the bridge.
    pub container: Netns,
}

impl DockerHost {
    /// Makes the server of `lab` a Docker host publishing `published` TCP ports of one
    /// container (as `docker run -p P:P`), behind ufw-like INPUT rules that allow 22, 80, 443.
    ///
    /// # Panics
    /// When a setup command fails.
    #[must_use]
    pub fn install(lab: &Lab, published: &[u16]) -> Self {
        let container = Netns::create(&format!("{}-ctr", lab.id()));
        let server = &lab.server;
        server.ip(&["link", "add", BRIDGE, "type", "bridge"]);
        server.ip(&["addr", "add", &format!("{BRIDGE_V4}/16"), "dev", BRIDGE]);
        server.ip(&["link", "set", BRIDGE, "up"]);
        super::netns::veth(server, HOST_VETH, &container, CONTAINER_IF);
        server.ip(&["link", "set", HOST_VETH, "master", BRIDGE, "up"]);
        container.ip(&[
            "addr",
            "add",
            &format!("{CONTAINER_V4}/16"),
            "dev",
            CONTAINER_IF,
        ]);
        container.ip(&["link", "set", CONTAINER_IF, "up"]);
        container.ip(&["route", "add", "default", "via", &BRIDGE_V4.to_string()]);
        server.sysctl("net/ipv4/ip_forward", "1");
        restore(server, &rules(published));
        Self { container }
    }
}

/// Loads `rules` with iptables-restore in `ns`.
fn restore(ns: &Netns, rules: &str) {
    let output = super::run_with_input(&mut ns.command("iptables-restore"), rules);
    assert!(
        output.status.success(),
        "iptables-restore failed: {}\n{rules}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The rules of Docker 28 for one container publishing `ports`, and ufw-like INPUT rules.
fn rules(ports: &[u16]) -> String {
    use std::fmt::Write as _;
    let c = CONTAINER_V4;
    let (mut dnat, mut accept) = (String::new(), String::new());
    for p in ports {
        let _ = writeln!(
            dnat,
            "-A DOCKER ! -i {BRIDGE} -p tcp -m tcp --dport {p} -j DNAT --to-destination {c}:{p}"
        );
        let _ = writeln!(
            accept,
            "-A DOCKER -d {c}/32 ! -i {BRIDGE} -o {BRIDGE} -p tcp -m tcp --dport {p} -j ACCEPT"
        );
    }
    format!(
        "*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -d {c}/32 ! -i {BRIDGE} -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o {BRIDGE} -j MASQUERADE
{dnat}COMMIT
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-BRIDGE - [0:0]
:DOCKER-CT - [0:0]
:DOCKER-FORWARD - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
:ufw-user-input - [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
-A INPUT -j ufw-user-input
-A ufw-user-input -p tcp -m tcp --dport 22 -j ACCEPT
-A ufw-user-input -p tcp -m tcp --dport 80 -j ACCEPT
-A ufw-user-input -p tcp -m tcp --dport 443 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-FORWARD
{accept}-A DOCKER ! -i {BRIDGE} -o {BRIDGE} -j DROP
-A DOCKER-BRIDGE -o {BRIDGE} -j DOCKER
-A DOCKER-CT -o {BRIDGE} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A DOCKER-FORWARD -j DOCKER-CT
-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1
-A DOCKER-FORWARD -j DOCKER-BRIDGE
-A DOCKER-FORWARD -i {BRIDGE} -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i {BRIDGE} ! -o {BRIDGE} -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-2 -o {BRIDGE} -j DROP
-A DOCKER-USER -j RETURN
COMMIT
"
    )
}
