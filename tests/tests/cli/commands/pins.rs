//! The pin root: attaches serialised, pins of a deleted interface replaced, detach of all,
//! an unreadable entry that hides nothing, and pins never removed from the wrong device.

use fwxdp_tests::lab::{INTERNET_IF, Lab, SERVER_IF, SERVER_V4, probe::Tcp, services};

use super::{allow_list, stderr};

#[test]
fn concurrent_attaches_are_serialised() {
    let lab = Lab::new();
    let lists = [
        "22",
        "22,80",
        "22,80,443",
        "22,443",
        "80",
        "443",
        "8000-8100/tcp",
        "53/udp",
    ];
    std::thread::scope(|scope| {
        let runs: Vec<_> = lists
            .iter()
            .map(|list| {
                let lab = &lab;
                scope.spawn(move || lab.fwxdp(&["attach", SERVER_IF, "--allow", list]))
            })
            .collect();
        for run in runs {
            let out = run.join().expect("attach thread");
            assert!(out.status.success(), "{}", stderr(&out));
        }
    });
    let allow = allow_list(&lab);
    assert!(
        lists
            .iter()
            .any(|l| serde_json::json!(l.split(',').collect::<Vec<_>>()) == allow),
        "final allow list {allow} is none of the lists applied"
    );
    let leftovers: Vec<_> = std::fs::read_dir(lab.pin_root())
        .expect("pin root")
        .flatten()
        .map(|e| e.file_name())
        // The blocklist every interface shares stays beside them.
        .filter(|n| *n != SERVER_IF && !n.to_string_lossy().starts_with("global:"))
        .collect();
    assert!(leftovers.is_empty(), "left in the pin root: {leftovers:?}");
}

#[test]
fn pins_of_a_deleted_interface_are_replaced_on_attach() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    // Recreate the veth pair: same name, new ifindex, no program attached.
    lab.server.ip(&["link", "del", SERVER_IF]);
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["present"], false, "{status}");
    assert_eq!(status["interfaces"][0]["filtering"], false, "{status}");
    fwxdp_tests::lab::netns::veth(&lab.server, SERVER_IF, &lab.internet, INTERNET_IF);
    // Made again: a name the pins know, but nothing filters it, and status says so.
    let out = lab.fwxdp(&["status"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("NOT FILTERED: the interface was deleted and made again"),
        "{text}"
    );
    let out = lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    assert!(out.contains("attached (native XDP)"), "{out}");
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["present"], true, "{status}");
    assert_eq!(status["interfaces"][0]["filtering"], true, "{status}");
    assert_eq!(allow_list(&lab), serde_json::json!(["22", "80"]));
}

#[test]
fn detach_all_detaches_everything() {
    let lab = Lab::new();
    assert!(
        lab.fwxdp_ok(&["detach", "--all"])
            .contains("nothing was attached")
    );
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let out = lab.fwxdp_ok(&["detach", "--all"]);
    assert!(out.contains("fwx0: detached"), "{out}");
    assert!(
        lab.fwxdp_ok(&["status"])
            .contains("no interface is attached")
    );
}

#[test]
fn one_unreadable_interface_does_not_hide_the_others() {
    let lab = Lab::new();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    // A directory in the pin root that holds no pins, as a crash could leave.
    std::fs::create_dir(lab.pin_root().join("ghost0")).expect("create");
    for args in [&["status", "--json"][..], &["stats", "--json"]] {
        let out = lab.fwxdp(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains("ghost0"), "{}", stderr(&out));
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(json["interfaces"][0]["interface"], SERVER_IF, "{json}");
        assert_eq!(json["errors"][0]["interface"], "ghost0", "{json}");
    }
    let out = lab.fwxdp(&["status"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("fwx0: mode native"));
    std::fs::remove_dir(lab.pin_root().join("ghost0")).expect("remove");
    assert!(lab.fwxdp(&["status"]).status.success());
}

#[test]
fn pins_that_filter_another_device_are_never_removed_from_here() {
    use fwxdp_tests::lab::netns::Netns;
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    // Another network namespace with an interface of the same name (and, being fresh, very
    // likely the same index), sharing the pin root.
    let other = Netns::create(&format!("{}-oth", lab.id()));
    other.ip(&[
        "link", "add", SERVER_IF, "type", "veth", "peer", "name", "fwxp",
    ]);
    let run_there = |args: &[&str]| {
        other
            .command(fwxdp_tests::lab::fwxdp_bin().to_str().expect("path"))
            .env("FWXDP_PIN_ROOT", lab.pin_root())
            .env("SSH_CONNECTION", "")
            .args(args)
            .output()
            .expect("run fwxdp")
    };
    let out = run_there(&["attach", SERVER_IF, "--allow", "22,5432"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another network namespace"), "{stderr}");
    let out = run_there(&["status"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("NOT FILTERED: its filter is in force on another device")
    );
    // The server's filter is untouched.
    assert_eq!(lab.connect(SERVER_V4.into(), 5432), Tcp::Filtered);
    assert_eq!(lab.status_json()["interfaces"][0]["filtering"], true);

    // The same within one namespace: renamed away, and a new device took the name.
    lab.server.ip(&["link", "set", SERVER_IF, "down"]);
    lab.server.ip(&["link", "set", SERVER_IF, "name", "fwxr"]);
    lab.server.ip(&["link", "set", "fwxr", "up"]);
    lab.server.ip(&[
        "link", "add", SERVER_IF, "type", "veth", "peer", "name", "fwxq",
    ]);
    let out = lab.fwxdp(&["attach", SERVER_IF, "--allow", "22,5432"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("renamed"));
    let status = lab.status_json();
    assert_eq!(status["interfaces"][0]["filtering"], false, "{status}");
}
