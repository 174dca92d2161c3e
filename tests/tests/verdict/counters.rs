//! The per-port drop table is bounded: a port whose slots are all taken on its CPU is
//! summed per protocol, and every total stays exact.

use fwxdp_common::{
    PORT_DROPS_MAX_ENTRIES, PORT_PROBES, Proto, Reason, port_slot_home, port_slot_key,
};
use fwxdp_tests::verdict::{
    Filter,
    frames::{REMOTE4, syn4, udp4},
    outcome::XDP_DROP,
};

/// One CPU's slot table as the program fills it: the ports it itemises, in order.
struct Table(Vec<u32>);

impl Table {
    fn new() -> Self {
        Self(vec![0; PORT_DROPS_MAX_ENTRIES as usize])
    }

    /// Whether a drop to `port` is itemised (taking a slot if it has none yet).
    fn count(&mut self, proto: Proto, port: u16) -> bool {
        let key = port_slot_key(proto, port);
        let home = port_slot_home(key);
        for probe in 0..PORT_PROBES {
            let slot = &mut self.0[((home + probe) % PORT_DROPS_MAX_ENTRIES) as usize];
            if *slot == key {
                return true;
            }
            if *slot == 0 {
                *slot = key;
                return true;
            }
        }
        false
    }
}

#[test]
fn per_port_drops_beyond_the_table_are_summed_exactly() {
    // TestRun counts on the CPU it runs on: one table.
    fwxdp_tests::pin_to_this_cpu();
    let mut f = Filter::new("22");
    let mut table = Table::new();
    let capacity = u16::try_from(PORT_DROPS_MAX_ENTRIES).expect("capacity fits u16");
    let ports = 1000..1000 + capacity + 500;
    let (mut bytes, mut itemised, mut overflowed) = (0u64, Vec::new(), 0u64);
    for port in ports.clone() {
        let frame = syn4(REMOTE4, port).build();
        bytes += u64::try_from(frame.len()).expect("len");
        assert_eq!(
            f.run_xdp(&frame).expect("test run"),
            XDP_DROP,
            "port {port}"
        );
        if table.count(Proto::Tcp, port) {
            itemised.push(port);
        } else {
            overflowed += 1;
        }
    }
    // Most of the table fills before a probe window is full (a scan of neighbouring ports
    // fills all of it: the hash spreads them evenly).
    assert!(
        itemised.len() > usize::from(capacity) / 2,
        "{}",
        itemised.len()
    );
    assert!(overflowed >= 500, "{overflowed}");
    let totals = f.totals();
    let mut seen: Vec<u16> = totals.port_drops.iter().map(|t| t.port).collect();
    seen.sort_unstable();
    assert_eq!(seen, itemised, "the ports the table itemises");
    assert!(totals.port_drops.iter().all(|t| t.proto == Proto::Tcp
        && t.counter.packets == 1
        && t.counter.bytes == bytes / u64::from(ports.end - ports.start)));
    // Every itemised port has its own rank in time, the first port dropped first.
    let mut ranks: Vec<u64> = totals.port_drops.iter().map(|t| t.first_seen).collect();
    ranks.sort_unstable();
    ranks.dedup();
    assert_eq!(ranks.len(), itemised.len(), "ranks are unique");
    let first_port = totals
        .port_drops
        .iter()
        .min_by_key(|t| t.first_seen)
        .expect("a port");
    assert_eq!((first_port.proto, first_port.port), (Proto::Tcp, 1000));
    let overflow = |totals: &fwxdp::state::Totals, proto| {
        totals
            .port_overflow
            .iter()
            .find(|(p, _)| *p == proto)
            .map(|(_, c)| c.packets)
            .expect("overflow counter")
    };
    assert_eq!(overflow(&totals, Proto::Tcp), overflowed);
    assert_eq!(overflow(&totals, Proto::Udp), 0);
    let port_reason = f.reason(Reason::Port);
    assert_eq!(port_reason.packets, u64::from(ports.end - ports.start));
    assert_eq!(port_reason.bytes, bytes);

    // A port already in the table keeps counting; a new one, of either protocol, whose
    // slots are all taken, overflows.
    let first = ports.start;
    f.run_xdp(&syn4(REMOTE4, first).build()).expect("test run");
    assert_eq!(f.port_drops(Proto::Tcp, first).packets, 2);
    let full = (1..=u16::MAX)
        .find(|&port| {
            let key = port_slot_key(Proto::Udp, port);
            let home = port_slot_home(key);
            (0..PORT_PROBES)
                .all(|probe| table.0[((home + probe) % PORT_DROPS_MAX_ENTRIES) as usize] != 0)
        })
        .expect("a UDP port whose slots are taken");
    f.run_xdp(&udp4(REMOTE4, full).build()).expect("test run");
    let totals = f.totals();
    assert_eq!(totals.port_drops.len(), itemised.len());
    assert_eq!(overflow(&totals, Proto::Udp), 1);
}

#[test]
fn ports_of_one_home_slot_take_the_next_slots_until_the_window_is_full() {
    fwxdp_tests::pin_to_this_cpu();
    let mut f = Filter::new("22");
    let home = port_slot_home(port_slot_key(Proto::Tcp, 3306));
    let same: Vec<u16> = (1..=u16::MAX)
        .filter(|&port| port_slot_home(port_slot_key(Proto::Tcp, port)) == home)
        .take(PORT_PROBES as usize + 1)
        .collect();
    assert_eq!(
        same.len(),
        PORT_PROBES as usize + 1,
        "enough ports share a home"
    );
    // Each port twice, interleaved: the first PORT_PROBES are found again past the others.
    for _ in 0..2 {
        for &port in &same {
            assert_eq!(
                f.run_xdp(&syn4(REMOTE4, port).build()).expect("test run"),
                XDP_DROP
            );
        }
    }
    let totals = f.totals();
    let mut itemised: Vec<(u16, u64)> = totals
        .port_drops
        .iter()
        .map(|t| (t.port, t.counter.packets))
        .collect();
    itemised.sort_unstable();
    let mut expected: Vec<(u16, u64)> = same[..PORT_PROBES as usize]
        .iter()
        .map(|&port| (port, 2))
        .collect();
    expected.sort_unstable();
    assert_eq!(itemised, expected);
    let tcp_overflow = totals
        .port_overflow
        .iter()
        .find(|(p, _)| *p == Proto::Tcp)
        .map(|(_, c)| c.packets);
    assert_eq!(tcp_overflow, Some(2), "the last port of the home overflows");
}
