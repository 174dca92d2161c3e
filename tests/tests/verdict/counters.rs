//! The per-port drop table is bounded: beyond its capacity, drops are summed per protocol,
//! and every total stays exact.

use fwxdp_common::{PORT_DROPS_MAX_ENTRIES, Proto, Reason};
use fwxdp_tests::verdict::{
    Filter,
    frames::{REMOTE4, syn4, udp4},
    outcome::XDP_DROP,
};

#[test]
fn per_port_drops_beyond_the_table_are_summed_exactly() {
    let mut f = Filter::new("22");
    let capacity = u16::try_from(PORT_DROPS_MAX_ENTRIES).expect("capacity fits u16");
    let extra = 500;
    let ports = 1000..1000 + capacity + extra;
    let mut bytes = 0u64;
    for port in ports.clone() {
        let frame = syn4(REMOTE4, port).build();
        bytes += u64::try_from(frame.len()).expect("len");
        assert_eq!(
            f.run_xdp(&frame).expect("test run"),
            XDP_DROP,
            "port {port}"
        );
    }
    let totals = f.totals();
    assert_eq!(totals.port_drops.len(), usize::from(capacity));
    let itemised: u64 = totals.port_drops.iter().map(|t| t.counter.packets).sum();
    // Every itemised port has its own rank in time, the first port dropped first.
    let mut ranks: Vec<u64> = totals.port_drops.iter().map(|t| t.first_seen).collect();
    ranks.sort_unstable();
    ranks.dedup();
    assert_eq!(ranks.len(), usize::from(capacity), "ranks are unique");
    let first_port = totals
        .port_drops
        .iter()
        .min_by_key(|t| t.first_seen)
        .expect("a port");
    assert_eq!((first_port.proto, first_port.port), (Proto::Tcp, 1000));
    let overflow = |proto| {
        totals
            .port_overflow
            .iter()
            .find(|(p, _)| *p == proto)
            .map(|(_, c)| *c)
            .expect("overflow counter")
    };
    assert_eq!(itemised, u64::from(capacity));
    assert_eq!(overflow(Proto::Tcp).packets, u64::from(extra));
    assert_eq!(overflow(Proto::Udp).packets, 0);
    let port_reason = f.reason(Reason::Port);
    assert_eq!(port_reason.packets, u64::from(capacity + extra));
    assert_eq!(port_reason.bytes, bytes);

    // A port already in the table keeps counting; a new one, of either protocol, overflows.
    let first = ports.start;
    f.run_xdp(&syn4(REMOTE4, first).build()).expect("test run");
    assert_eq!(f.port_drops(Proto::Tcp, first).packets, 2);
    f.run_xdp(&udp4(REMOTE4, 60_000).build()).expect("test run");
    let totals = f.totals();
    assert_eq!(totals.port_drops.len(), usize::from(capacity));
    assert_eq!(
        totals
            .port_overflow
            .iter()
            .find(|(p, _)| *p == Proto::Udp)
            .map(|(_, c)| c.packets),
        Some(1)
    );
}
