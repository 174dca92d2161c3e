//! The attach mechanisms: TC as a clsact filter made over netlink (what kernels without TCX
//! get; forced here with `FWXDP_TC_MECHANISM=clsact`) keeps every lifecycle promise, and
//! leaves other filters alone.

use fwxdp_tests::lab::{Lab, SERVER_IF, SERVER_V4, SERVER_V6, probe::Tcp, services, watch};

/// The `tc filter show` lines of the server interface in `direction`.
fn filters(lab: &Lab, direction: &str) -> String {
    let out = lab
        .server
        .run(&["tc", "filter", "show", "dev", SERVER_IF, direction]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn clsact_filters_keep_every_lifecycle_promise_and_leave_others_alone() {
    let lab = Lab::new();
    lab.set_fwxdp_env("FWXDP_TC_MECHANISM", "clsact");
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001]);
    // Someone else's filters (classic BPF that matches nothing), on both sides.
    lab.server
        .run(&["tc", "qdisc", "add", "dev", SERVER_IF, "clsact"]);
    for direction in ["ingress", "egress"] {
        lab.server.run(&[
            "tc",
            "filter",
            "add",
            "dev",
            SERVER_IF,
            direction,
            "prio",
            "10",
            "bpf",
            "bytecode",
            "1,6 0 0 0,",
        ]);
    }

    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", "tc"]);
    let status = lab.status_json()["interfaces"][0].clone();
    assert_eq!(status["mode"], "tc", "{status}");
    assert_eq!(status["mechanism"], "clsact", "{status}");
    assert_eq!(status["egress_mechanism"], "clsact", "{status}");
    assert!(status["program_id"].is_u64(), "{status}");
    assert!(filters(&lab, "ingress").contains("fwxdp_tc_ingres"));
    assert!(filters(&lab, "egress").contains("fwxdp_tc_egress"));
    for addr in [SERVER_V4.into(), SERVER_V6.into()] {
        assert_eq!(lab.connect(addr, 80), Tcp::Open, "{addr}");
        assert_eq!(lab.connect(addr, 8000), Tcp::Filtered, "{addr}");
    }

    // Replace in place and move between modes under load: no leak, no outage, and the
    // clsact ingress filter goes when XDP takes over.
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        for mode in ["native", "tc", "generic", "native", "tc"] {
            lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", mode]);
            let ingress = filters(&lab, "ingress");
            assert_eq!(
                ingress.contains("fwxdp_tc_ingres"),
                mode == "tc",
                "{mode}: {ingress}"
            );
        }
        lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,443"]);
    });
    report.assert_held("mode switches over clsact");
    assert_eq!(
        filters(&lab, "ingress")
            .lines()
            .filter(|line| line.contains("fwxdp_tc_ingres"))
            .count(),
        1,
        "one verdict filter, no leftovers"
    );

    lab.fwxdp_ok(&["detach", SERVER_IF]);
    for direction in ["ingress", "egress"] {
        let left = filters(&lab, direction);
        assert!(!left.contains("fwxdp"), "{direction}: {left}");
        assert!(
            left.contains("bytecode"),
            "{direction}: the other filter stays: {left}"
        );
    }
    assert_eq!(lab.connect(SERVER_V4.into(), 8000), Tcp::Open);
}

#[test]
fn status_names_the_mechanism_of_an_xdp_attach() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "native"]);
    let status = lab.status_json()["interfaces"][0].clone();
    assert_eq!(status["mechanism"], "xdp_link", "{status}");
    // TCX where the kernel has it, a clsact filter where it does not: probed, either way.
    assert!(
        matches!(status["egress_mechanism"].as_str(), Some("tcx" | "clsact")),
        "{status}"
    );
    let text = lab.fwxdp_ok(&["status"]);
    assert!(text.contains("fwx0: mode native (BPF link)"), "{text}");
}

#[test]
fn clsact_filters_left_by_a_killed_attach_are_taken_over_not_leaked() {
    let lab = Lab::new();
    lab.set_fwxdp_env("FWXDP_TC_MECHANISM", "clsact");
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "tc"]);
    // What an attach killed before its final rename leaves: a staging directory whose
    // recorded filters are attached.
    let pins = lab.pin_root();
    std::fs::rename(
        pins.join(SERVER_IF),
        pins.join(format!("staging:99999:{SERVER_IF}")),
    )
    .expect("make it a staging directory");
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "tc"]);
    for direction in ["ingress", "egress"] {
        let ours = filters(&lab, direction)
            .lines()
            .filter(|line| line.contains("fwxdp_tc_"))
            .count();
        assert_eq!(ours, 1, "{direction}: {}", filters(&lab, direction));
    }
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    for direction in ["ingress", "egress"] {
        assert!(!filters(&lab, direction).contains("fwxdp"), "{direction}");
    }
}

#[test]
fn filters_removed_behind_fwxdps_back_do_not_block_detach() {
    let lab = Lab::new();
    lab.set_fwxdp_env("FWXDP_TC_MECHANISM", "clsact");
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "tc"]);
    // Someone flushes the egress chain, then removes the whole clsact qdisc.
    lab.server
        .run(&["tc", "filter", "del", "dev", SERVER_IF, "egress"]);
    lab.server
        .run(&["tc", "qdisc", "del", "dev", SERVER_IF, "clsact"]);
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    assert!(!lab.pin_root().join(SERVER_IF).exists());
}
