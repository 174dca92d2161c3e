//! The drop log: an event per dropped packet, at most `log_rate` a second on each CPU, with
//! the addresses and ports of the packet; what the bound leaves out is counted.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use fwxdp::state::DropReader;
use fwxdp_common::{Config, Proto, Reason, TCP_FLAG_SYN};
use fwxdp_tests::{
    packet::{FrameBuilder, SYN},
    pin_to_this_cpu,
    verdict::{
        Filter,
        frames::{EPHEMERAL, LOCAL4, LOCAL6},
        outcome::{ALLOWED, LOOPBACK, port_drop},
    },
};

fn filter(log_rate: u32) -> (Filter, DropReader) {
    let config = Config {
        log_rate,
        ..Config::default()
    };
    let f = Filter::with_config("22", &config);
    let reader = DropReader::from_map("test0", &f.loaded.log).expect("the ring");
    (f, reader)
}

#[test]
fn each_drop_under_the_bound_is_an_event_with_its_addresses_and_ports() {
    pin_to_this_cpu();
    let (mut f, mut log) = filter(10);
    let src = Ipv4Addr::new(192, 0, 2, 10);
    for port in [3306, 5432, 6379] {
        let syn = FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, port, SYN).build();
        f.expect("a protected port", &syn, port_drop(Proto::Tcp, port));
    }
    let src6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7);
    let udp6 = FrameBuilder::udp_v6(src6, LOCAL6, 5353, 9000, b"x").build();
    f.expect("IPv6 UDP", &udp6, port_drop(Proto::Udp, 9000));
    let syn = FrameBuilder::tcp_v4(src, LOCAL4, EPHEMERAL, 22, SYN).build();
    f.expect("an allowed port logs nothing", &syn, ALLOWED);
    let events = log.drain();
    assert_eq!(events.len(), 4, "{events:?}");
    for (event, port) in events.iter().zip([3306, 5432, 6379]) {
        assert_eq!(event.reason, Reason::Port);
        assert_eq!(event.src, Some(IpAddr::V4(src)));
        assert_eq!(event.dst, Some(IpAddr::V4(LOCAL4)));
        assert_eq!((event.src_port, event.dst_port), (EPHEMERAL, port));
        assert_eq!(event.protocol, 6);
        assert_eq!(event.tcp_flags, TCP_FLAG_SYN);
        assert_eq!(event.interface, "test0");
    }
    let udp = &events[3];
    assert_eq!(
        (udp.src, udp.dst),
        (Some(IpAddr::V6(src6)), Some(IpAddr::V6(LOCAL6)))
    );
    assert_eq!((udp.protocol, udp.src_port, udp.dst_port), (17, 5353, 9000));
    assert_eq!(udp.len as usize, udp6.len());
    let totals = f.totals();
    assert_eq!((totals.log_suppressed, totals.log_lost), (0, 0));
}

/// A loopback source is judged before the transport header is read: its event says the
/// protocol its IP header names, without ports.
#[test]
fn a_loopback_drop_is_logged_with_its_protocol() {
    pin_to_this_cpu();
    let (mut f, mut log) = filter(10);
    let syn = FrameBuilder::tcp_v4(Ipv4Addr::LOCALHOST, LOCAL4, EPHEMERAL, 22, SYN).build();
    f.expect("a loopback source", &syn, LOOPBACK);
    let events = log.drain();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].reason, Reason::Loopback);
    assert_eq!(events[0].protocol, 6);
    assert_eq!(events[0].src, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));
}

#[test]
fn over_the_bound_exactly_the_bound_is_logged_and_the_rest_counted() {
    pin_to_this_cpu();
    let (mut f, mut log) = filter(3);
    let syn =
        FrameBuilder::tcp_v4(Ipv4Addr::new(192, 0, 2, 10), LOCAL4, EPHEMERAL, 3306, SYN).build();
    for _ in 0..10 {
        f.expect("a protected port", &syn, port_drop(Proto::Tcp, 3306));
    }
    assert_eq!(log.drain().len(), 3);
    assert_eq!(f.totals().log_suppressed, 7);
    assert_eq!(f.totals().log_lost, 0);
}

#[test]
fn a_rate_of_zero_logs_nothing() {
    let (mut f, mut log) = filter(0);
    let syn =
        FrameBuilder::tcp_v4(Ipv4Addr::new(192, 0, 2, 10), LOCAL4, EPHEMERAL, 3306, SYN).build();
    f.expect("a protected port", &syn, port_drop(Proto::Tcp, 3306));
    assert!(log.drain().is_empty());
    assert_eq!(f.totals().log_suppressed, 0);
}
