//! Flow tracking: how long a flow admits replies, and which flows are recorded.

use fwxdp_common::{FAMILY_V4, FLOW_TIMEOUT_NS, FlowKey, Proto, ip_protocol};
use fwxdp_tests::{
    packet::FrameBuilder,
    verdict::{
        Filter,
        frames::{EPHEMERAL, LOCAL4, REMOTE4},
        outcome::{ESTABLISHED, port_drop},
    },
};

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of `bpf_ktime_get_ns`.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut now) };
    assert_eq!(rc, 0, "clock_gettime");
    u64::try_from(now.tv_sec).expect("seconds") * 1_000_000_000
        + u64::try_from(now.tv_nsec).expect("nanoseconds")
}

/// The flow the host starts from `LOCAL4:EPHEMERAL` to `REMOTE4:53`.
fn dns_flow() -> FlowKey {
    let mut key = FlowKey {
        local_port_be: EPHEMERAL.to_be(),
        remote_port_be: 53u16.to_be(),
        family: FAMILY_V4,
        protocol: ip_protocol::UDP,
        ..FlowKey::default()
    };
    key.local_addr[..4].copy_from_slice(&LOCAL4.octets());
    key.remote_addr[..4].copy_from_slice(&REMOTE4.octets());
    key
}

fn dns_reply() -> Vec<u8> {
    FrameBuilder::udp_v4(REMOTE4, LOCAL4, 53, EPHEMERAL, b"answer").build()
}

#[test]
fn a_flow_admits_replies_until_its_idle_timeout() {
    let mut f = Filter::new("22");
    // Verified first: the verifier's time must not eat into the margin.
    f.loaded.xdp().expect("load the XDP programs");
    let margin = 1_000_000_000;
    let fresh = monotonic_ns() - (FLOW_TIMEOUT_NS - margin);
    f.loaded
        .flows
        .insert(dns_flow(), fresh, 0)
        .expect("insert flow");
    f.expect("reply within the timeout", &dns_reply(), ESTABLISHED);

    let stale = monotonic_ns() - (FLOW_TIMEOUT_NS + margin);
    f.loaded
        .flows
        .insert(dns_flow(), stale, 0)
        .expect("insert flow");
    f.expect(
        "reply after the timeout",
        &dns_reply(),
        port_drop(Proto::Udp, EPHEMERAL),
    );
}

#[test]
fn replies_from_ports_open_to_everyone_record_no_flow() {
    let mut f = Filter::new("53/udp");
    // The host answers a query on its open DNS port: no flow.
    let answer = FrameBuilder::udp_v4(LOCAL4, REMOTE4, 53, EPHEMERAL, b"answer").build();
    f.record_outbound(&answer);
    assert_eq!(f.loaded.flows.keys().count(), 0, "a flow was recorded");
    // The host asks a question from an ephemeral port: recorded, and the answer passes.
    let query = FrameBuilder::udp_v4(LOCAL4, REMOTE4, EPHEMERAL, 53, b"query").build();
    f.record_outbound(&query);
    assert!(
        f.loaded.flows.get(&dns_flow(), 0).is_ok(),
        "no flow recorded"
    );
    f.expect("the answer", &dns_reply(), ESTABLISHED);
}
