//! The verdict under its configuration (docs/DESIGN.md, "The verdict"): monitor mode, policy
//! generations, and the TC ingress entry point, on synthetic frames through `TestRun`.
//!
//! Every test loads its own instance, so its maps and counters are its own.

use std::net::Ipv4Addr;

use fwxdp_common::{CONFIG_MONITOR, Config, Counter, Proto, Reason, program_name};
use fwxdp_tests::packet::{ARP_REQUEST, FrameBuilder, SYN, TPID_8021Q};
use fwxdp_tests::verdict::{
    Filter, POLICY,
    counters::diff,
    frames::{LOCAL4, REMOTE4, REMOTE6, hex, syn4, syn6, udp4, udp6},
    outcome::{
        ALLOWED, ALLOWED_CIDR, Action, LOOPBACK, MALFORMED, TC_ACT_SHOT, TC_ACT_UNSPEC, Verdict,
        port_drop,
    },
    policy,
};

#[test]
fn monitor_mode_passes_everything_and_counts_the_verdict() {
    let monitor = Config {
        flags: CONFIG_MONITOR,
        ..Config::default()
    };
    let mut f = Filter::with_config(POLICY, &monitor);
    let watched = |v: Verdict| Verdict {
        action: Action::Pass,
        ..v
    };
    let syn = syn4(REMOTE4, 3306).build();
    f.expect("v4 SYN 3306", &syn, watched(port_drop(Proto::Tcp, 3306)));
    let udp = udp6(REMOTE6, 5353).build();
    f.expect("v6 UDP 5353", &udp, watched(port_drop(Proto::Udp, 5353)));
    let lo = FrameBuilder::tcp_v4([127, 0, 0, 1].into(), LOCAL4, 1, 80, SYN).build();
    f.expect("from loopback", &lo, watched(LOOPBACK));
    let three = syn4(REMOTE4, 80)
        .vlan(TPID_8021Q, 1)
        .vlan(TPID_8021Q, 2)
        .vlan(TPID_8021Q, 3)
        .build();
    f.expect("three VLAN tags", &three, watched(MALFORMED));
    f.expect("v4 SYN 80", &syn4(REMOTE4, 80).build(), ALLOWED);
    let bytes = u64::try_from(syn.len()).unwrap();
    assert_eq!(
        f.port_drops(Proto::Tcp, 3306),
        Counter { packets: 1, bytes }
    );

    // Leaving monitor mode makes the same verdict bite.
    f.set_config(&Config::default());
    f.expect("v4 SYN 3306, enforcing", &syn, port_drop(Proto::Tcp, 3306));
}

#[test]
fn a_new_policy_generation_changes_the_verdict_when_switched_in() {
    let mut f = Filter::new("80,5432@10.0.0.0/8");
    let syn_80 = syn4(REMOTE4, 80).build();
    let syn_3306 = syn4(REMOTE4, 3306).build();
    let from_10 = syn4(Ipv4Addr::new(10, 1, 1, 1), 5432).build();
    let from_11 = syn4(Ipv4Addr::new(11, 1, 1, 1), 5432).build();
    let check_generation_0 = |f: &mut Filter| {
        f.expect("gen 0, SYN 80", &syn_80, ALLOWED);
        f.expect("gen 0, SYN 3306", &syn_3306, port_drop(Proto::Tcp, 3306));
        f.expect("gen 0, 5432 from 10/8", &from_10, ALLOWED_CIDR);
        f.expect(
            "gen 0, 5432 from 11/8",
            &from_11,
            port_drop(Proto::Tcp, 5432),
        );
    };
    check_generation_0(&mut f);

    f.loaded
        .policy
        .write_generation(1, &policy("3306,5432@11.0.0.0/8"))
        .expect("write generation 1");
    // Written but not in force.
    check_generation_0(&mut f);

    let generation_1 = Config {
        generation: 1,
        ..Config::default()
    };
    f.set_config(&generation_1);
    assert_eq!(f.loaded.policy.config().expect("read config"), generation_1);
    f.expect("gen 1, SYN 80", &syn_80, port_drop(Proto::Tcp, 80));
    f.expect("gen 1, SYN 3306", &syn_3306, ALLOWED);
    f.expect(
        "gen 1, 5432 from 10/8",
        &from_10,
        port_drop(Proto::Tcp, 5432),
    );
    f.expect("gen 1, 5432 from 11/8", &from_11, ALLOWED_CIDR);

    f.set_config(&Config::default());
    check_generation_0(&mut f);
}

#[test]
fn a_policy_installed_in_generation_1_is_in_force() {
    let config = Config {
        generation: 1,
        ..Config::default()
    };
    let mut f = Filter::with_config("3306", &config);
    f.expect("SYN 3306", &syn4(REMOTE4, 3306).build(), ALLOWED);
    f.expect(
        "SYN 80",
        &syn4(REMOTE4, 80).build(),
        port_drop(Proto::Tcp, 80),
    );
}

#[test]
fn the_tc_ingress_program_gives_the_same_verdict() {
    let mut f = Filter::new(POLICY);
    let cases = [
        (syn4(REMOTE4, 3306).build(), TC_ACT_SHOT, Reason::Port),
        (syn6(REMOTE6, 80).build(), TC_ACT_UNSPEC, Reason::Allowed),
        (udp4(REMOTE4, 53).build(), TC_ACT_UNSPEC, Reason::Allowed),
        (
            FrameBuilder::arp(ARP_REQUEST, REMOTE4, LOCAL4).build(),
            TC_ACT_UNSPEC,
            Reason::Other,
        ),
        (
            syn4(REMOTE4, 80)
                .vlan(TPID_8021Q, 1)
                .vlan(TPID_8021Q, 2)
                .vlan(TPID_8021Q, 3)
                .build(),
            TC_ACT_SHOT,
            Reason::Malformed,
        ),
    ];
    for (frame, action, reason) in cases {
        let before = f.reason(reason);
        let value = f.run_tc(program_name::TC_INGRESS, &frame);
        assert_eq!(value, action, "{reason:?}: TC action on {}", hex(&frame));
        let after = f.reason(reason);
        let len = u64::try_from(frame.len()).unwrap();
        assert_eq!(
            diff(after, before),
            Counter {
                packets: 1,
                bytes: len
            },
            "{reason:?}: counted by TC"
        );
    }
}
