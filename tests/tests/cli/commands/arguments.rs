//! Bad arguments: refused with exit code 2 (1 for an interface that cannot be filtered),
//! naming what is wrong, and applying nothing.

use fwxdp_tests::lab::{Lab, SERVER_IF, SERVER_V4, probe::Tcp, services};

use super::{allow_list, stderr};

#[test]
fn bad_specs_exit_2_name_the_item_and_change_nothing() {
    let lab = Lab::new();
    let _web = services::tcp(&lab.server, 8080);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,8080"]);
    for (spec, named) in [
        ("22,0", "\"0\""),
        ("22,65536", "\"65536\""),
        ("100-10", "inverted"),
        ("22,,80", "empty item"),
        ("ssh", "\"ssh\""),
        ("5432@10.0.0.0/33", "10.0.0.0/33"),
        ("5432@10.0.0.1/8", "host bits"),
    ] {
        let out = lab.fwxdp(&["attach", SERVER_IF, "--allow", spec]);
        assert_eq!(out.status.code(), Some(2), "{spec}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{spec}: {}", stderr(&out));
    }
    // The earlier policy is in force, untouched.
    assert_eq!(allow_list(&lab), serde_json::json!(["22", "8080"]));
    assert_eq!(lab.connect(SERVER_V4.into(), 8080), Tcp::Open);
}

#[test]
fn a_bad_second_interface_applies_nothing() {
    let lab = Lab::new();
    let out = lab.fwxdp(&["attach", SERVER_IF, "nope0", "--allow", "22"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("interface nope0 does not exist"),
        "{}",
        stderr(&out)
    );
    assert!(
        !lab.pin_root().join(SERVER_IF).exists(),
        "fwx0 was attached"
    );
}

#[test]
fn loopback_and_unknown_interfaces_are_refused() {
    let lab = Lab::new();
    let out = lab.fwxdp(&["attach", "lo", "--allow", "22"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("loopback"), "{}", stderr(&out));
    let out = lab.fwxdp(&["detach", "nope0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nope0 is not attached"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let lab = Lab::new();
    for args in [
        &["attach", SERVER_IF][..],
        &["attach", "--allow", "22"],
        &["attach", SERVER_IF, "--allow", "22", "--mode", "fast"],
        &["detach"],
        &["detach", SERVER_IF, "--all"],
        &["frobnicate"],
    ] {
        let out = lab.fwxdp(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn detach_refuses_names_that_are_not_interfaces() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    for name in ["/", "", "..", "../..", "/etc", "a/b"] {
        let out = lab.fwxdp(&["detach", name]);
        assert_eq!(out.status.code(), Some(2), "{name:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a valid interface name"),
            "{}",
            stderr(&out)
        );
    }
    // Nothing was removed: the filter and its pins are intact.
    assert!(lab.pin_root().join(SERVER_IF).join("link_ingress").exists());
    assert_eq!(
        lab.status_json()["interfaces"][0]["allow"],
        serde_json::json!(["22"])
    );
}
