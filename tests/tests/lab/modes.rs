//! Moving an attached interface between modes never leaves it unfiltered.

use fwxdp_tests::lab::{Lab, SERVER_IF, services, watch};

#[test]
fn switching_modes_leaves_no_unfiltered_moment() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 8000, 8001]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let first = lab.status_json()["interfaces"][0].clone();
    let report = watch::while_changing(&lab, 80, 8000, 8001, || {
        for mode in [
            "generic", "tc", "native", "tc", "generic", "native", "generic", "tc", "native",
        ] {
            let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", mode]);
            assert!(out.contains("with no unfiltered moment"), "{mode}: {out}");
            let status = lab.status_json();
            assert_eq!(status["interfaces"][0]["mode"], mode, "{status}");
        }
    });
    report.assert_held("9 mode switches");
    // The same maps throughout: the counters kept counting, the attach time stayed.
    let last = lab.status_json()["interfaces"][0].clone();
    assert_eq!(last["attached_at"], first["attached_at"]);
    assert_eq!(last["allow"], first["allow"]);
}

#[test]
fn without_a_mode_a_replacement_keeps_the_mode_in_force() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22", "--mode", "tc"]);
    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    assert!(
        out.contains("policy replaced in place (TC ingress)"),
        "{out}"
    );
    assert_eq!(lab.status_json()["interfaces"][0]["mode"], "tc");
    // auto asks for XDP: native on a veth.
    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80", "--mode", "auto"]);
    assert!(out.contains("moved from TC ingress to native XDP"), "{out}");
    assert_eq!(lab.status_json()["interfaces"][0]["mode"], "native");
}
