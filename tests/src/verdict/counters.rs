//! The verdict the counters say: what one run added to them, checked for exactness.

use std::collections::BTreeMap;

use fwxdp::state::Totals;
use fwxdp_common::{Counter, Proto, Reason};

use crate::verdict::outcome::{Action, Verdict};

/// What a counter gained between two readings.
#[must_use]
pub fn diff(after: Counter, before: Counter) -> Counter {
    Counter {
        packets: after.packets - before.packets,
        bytes: after.bytes - before.bytes,
    }
}

/// The verdict that the counters of one run say, checked for exactness.
pub(crate) fn counted(
    label: &str,
    len: usize,
    before: &Totals,
    after: &Totals,
    action: Action,
) -> Verdict {
    let one = Counter {
        packets: 1,
        bytes: u64::try_from(len).unwrap(),
    };
    let reasons: Vec<(Reason, Counter)> = before
        .reasons
        .iter()
        .zip(&after.reasons)
        .map(|((reason, b), (_, a))| (*reason, diff(*a, *b)))
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let [(reason, count)] = reasons[..] else {
        panic!("{label}: expected one reason counted, got {reasons:?}");
    };
    assert_eq!(count, one, "{label}: reason {reason:?} counted wrongly");

    let old: BTreeMap<(Proto, u16), Counter> = before
        .port_drops
        .iter()
        .map(|t| ((t.proto, t.port), t.counter))
        .collect();
    let ports: Vec<((Proto, u16), Counter)> = after
        .port_drops
        .iter()
        .map(|t| {
            let was = old.get(&(t.proto, t.port)).copied().unwrap_or_default();
            ((t.proto, t.port), diff(t.counter, was))
        })
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let overflows: Vec<(Proto, Counter)> = before
        .port_overflow
        .iter()
        .zip(&after.port_overflow)
        .map(|((proto, b), (_, a))| (*proto, diff(*a, *b)))
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let old: BTreeMap<(Proto, u16), Counter> = before
        .limit_drops
        .iter()
        .map(|&(proto, port, c)| ((proto, port), c))
        .collect();
    let limited: Vec<((Proto, u16), Counter)> = after
        .limit_drops
        .iter()
        .map(|&(proto, port, c)| {
            let was = old.get(&(proto, port)).copied().unwrap_or_default();
            ((proto, port), diff(c, was))
        })
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let ports = match (&ports[..], &limited[..]) {
        (_, []) => ports,
        ([], [_]) => limited,
        _ => panic!("{label}: port and rate-limit drops charged: {ports:?}, {limited:?}"),
    };
    let (port, overflowed) = match (&ports[..], &overflows[..]) {
        ([], []) => (None, false),
        ([(key, count)], []) => {
            assert_eq!(*count, one, "{label}: drop of {key:?} counted wrongly");
            (Some(*key), false)
        }
        ([], [(proto, count)]) => {
            assert_eq!(
                *count, one,
                "{label}: overflow of {proto:?} counted wrongly"
            );
            (Some((*proto, 0)), true)
        }
        _ => panic!("{label}: several ports charged: {ports:?}, overflow {overflows:?}"),
    };
    let old: BTreeMap<u8, Counter> = before.protocol_drops.iter().copied().collect();
    let protocols: Vec<(u8, Counter)> = after
        .protocol_drops
        .iter()
        .map(|&(n, c)| (n, diff(c, old.get(&n).copied().unwrap_or_default())))
        .filter(|(_, d)| *d != Counter::default())
        .collect();
    let protocol = match protocols[..] {
        [] => None,
        [(number, count)] => {
            assert_eq!(
                count, one,
                "{label}: drop of protocol {number} counted wrongly"
            );
            Some(number)
        }
        _ => panic!("{label}: several protocols charged: {protocols:?}"),
    };
    Verdict {
        action,
        reason,
        port,
        protocol,
        overflowed,
    }
}
