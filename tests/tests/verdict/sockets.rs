//! TCP segments that are no bare SYN, to a port their source may not open: they pass only
//! when the host has a connection for them, or no socket at all (forwarded traffic); a
//! listener alone means a SYN-cookie ACK, which is dropped. `TestRun` runs in a lab's server
//! namespace, whose socket tables the program's lookup reads.

use std::{
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use fwxdp_common::Proto;
use fwxdp_tests::{
    lab::{CLIENT_V4, CLIENT_V6, Lab, SERVER_V4, SERVER_V6},
    packet::{ACK, FIN, FrameBuilder, RST, SYN},
    verdict::{
        Filter,
        outcome::{ESTABLISHED, port_drop},
    },
};

const POLICY: &str = "80,5432@10.77.0.0/24";

fn segment(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => FrameBuilder::tcp_v4(s, d, sport, dport, flags).build(),
        (IpAddr::V6(s), IpAddr::V6(d)) => FrameBuilder::tcp_v6(s, d, sport, dport, flags).build(),
        _ => panic!("mixed families"),
    }
}

#[test]
fn a_segment_to_a_listener_without_a_connection_is_dropped_and_one_with_passes() {
    let lab = Lab::new();
    let listener = lab
        .server
        .enter(|| TcpListener::bind(("::", 3306)).expect("bind"));
    // A real connection from the internet side, held open on both ends.
    let client = lab.internet.enter(|| {
        TcpStream::connect_timeout(
            &SocketAddr::new(SERVER_V4.into(), 3306),
            Duration::from_secs(2),
        )
        .expect("connect")
    });
    let (_accepted, _) = listener.accept().expect("accept");
    let client6 = lab.internet.enter(|| {
        TcpStream::connect_timeout(
            &SocketAddr::new(SERVER_V6.into(), 3306),
            Duration::from_secs(2),
        )
        .expect("connect v6")
    });
    let (_accepted6, _) = listener.accept().expect("accept v6");
    let (port4, port6) = (
        client.local_addr().expect("addr").port(),
        client6.local_addr().expect("addr").port(),
    );
    let mut f = Filter::new(POLICY);
    lab.server.within(|| {
        let (c4, s4) = (IpAddr::from(CLIENT_V4), IpAddr::from(SERVER_V4));
        let (c6, s6) = (IpAddr::from(CLIENT_V6), IpAddr::from(SERVER_V6));
        let dropped = port_drop(Proto::Tcp, 3306);
        f.expect(
            "ACK of the connection",
            &segment(c4, s4, port4, 3306, ACK),
            ESTABLISHED,
        );
        f.expect(
            "v6 ACK of the connection",
            &segment(c6, s6, port6, 3306, ACK),
            ESTABLISHED,
        );
        f.expect(
            "FIN of the connection",
            &segment(c4, s4, port4, 3306, FIN | ACK),
            ESTABLISHED,
        );
        f.expect(
            "bare ACK to the listener",
            &segment(c4, s4, 50_000, 3306, ACK),
            dropped,
        );
        f.expect(
            "v6 bare ACK to the listener",
            &segment(c6, s6, 50_000, 3306, ACK),
            dropped,
        );
        f.expect(
            "SYN-ACK to the listener",
            &segment(c4, s4, 50_000, 3306, SYN | ACK),
            dropped,
        );
        f.expect(
            "RST to the listener",
            &segment(c4, s4, 50_000, 3306, RST),
            dropped,
        );
        // No socket at all: for another host (forwarded, NAT-ed), or answered with a RST.
        f.expect(
            "ACK to a port nothing has",
            &segment(c4, s4, 50_000, 3307, ACK),
            ESTABLISHED,
        );
        // Open ports, and sources allowed on the port, need no socket.
        f.expect(
            "ACK to an open port",
            &segment(c4, s4, 50_000, 80, ACK),
            ESTABLISHED,
        );
        let db = lab
            .server
            .enter(|| TcpListener::bind(("::", 5432)).expect("bind 5432"));
        f.expect(
            "ACK from 5432's network",
            &segment(c4, s4, 50_000, 5432, ACK),
            ESTABLISHED,
        );
        f.expect(
            "v6 ACK to 5432, open to a v4 network only",
            &segment(c6, s6, 50_000, 5432, ACK),
            port_drop(Proto::Tcp, 5432),
        );
        drop(db);
    });
}

#[test]
fn the_tc_program_looks_up_sockets_alike() {
    let lab = Lab::new();
    let _listener = lab
        .server
        .enter(|| TcpListener::bind(("::", 3306)).expect("bind"));
    let mut f = Filter::new(POLICY);
    lab.server.within(|| {
        let ack = segment(CLIENT_V4.into(), SERVER_V4.into(), 50_000, 3306, ACK);
        let to_nothing = segment(CLIENT_V4.into(), SERVER_V4.into(), 50_000, 3307, ACK);
        let tc = fwxdp_common::program_name::TC_INGRESS;
        assert_eq!(
            f.run_tc(tc, &ack),
            fwxdp_tests::verdict::outcome::TC_ACT_SHOT
        );
        assert_eq!(
            f.run_tc(tc, &to_nothing),
            fwxdp_tests::verdict::outcome::TC_ACT_UNSPEC
        );
    });
}
