//! The command line: exit codes, error messages, and state that is never half-applied.

use std::process::Output;

use fwxdp_tests::lab::{INTERNET_IF, Lab, SERVER_IF, SERVER_V4, probe::Tcp, services};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn allow_list(lab: &Lab) -> serde_json::Value {
    lab.status_json()["interfaces"][0]["allow"].clone()
}

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
fn not_root_is_a_clear_error() {
    let lab = Lab::new();
    let bin = fwxdp_tests::lab::fwxdp_bin();
    let out = lab
        .server
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .args(["status"])
        .env("FWXDP_PIN_ROOT", lab.pin_root())
        .output()
        .expect("setpriv");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must run as root"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_pin_root_off_bpffs_is_refused() {
    let lab = Lab::new();
    let dir = std::env::temp_dir().join(format!("{}-pins", lab.id()));
    let out = lab
        .fwxdp_command()
        .env("FWXDP_PIN_ROOT", &dir)
        .args(["attach", SERVER_IF, "--allow", "22"])
        .output()
        .expect("fwxdp");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not on a bpf filesystem"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.exists());
}

#[test]
fn an_ssh_session_is_not_locked_out_by_accident() {
    let lab = Lab::new();
    let session = "10.77.0.2 50000 10.77.0.1 22";
    let out = lab
        .fwxdp_command()
        .env("SSH_CONNECTION", session)
        .args(["attach", SERVER_IF, "--allow", "80,443"])
        .output()
        .expect("fwxdp");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("port 22"), "{}", stderr(&out));
    assert!(!lab.pin_root().join(SERVER_IF).exists());
    // As under sudo (env_reset): only an ancestor has SSH_CONNECTION.
    let bin = fwxdp_tests::lab::fwxdp_bin();
    let out = lab
        .server
        .command("sh")
        .arg("-c")
        .arg(format!(
            "env -u SSH_CONNECTION {} attach {SERVER_IF} --allow 80,443; echo exit=$?",
            bin.display()
        ))
        .env("SSH_CONNECTION", session)
        .env("FWXDP_PIN_ROOT", lab.pin_root())
        .output()
        .expect("sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("exit=2"), "{stdout}{}", stderr(&out));
    assert!(stderr(&out).contains("port 22"), "{}", stderr(&out));
    assert!(!lab.pin_root().join(SERVER_IF).exists());
    // Allowed from the session's address, or forced: applied.
    for args in [
        &["attach", SERVER_IF, "--allow", "80,22@10.77.0.2/32"][..],
        &["attach", SERVER_IF, "--allow", "80", "--force"],
    ] {
        let out = lab
            .fwxdp_command()
            .env("SSH_CONNECTION", session)
            .args(args)
            .output()
            .expect("fwxdp");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
}

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
fn a_bpffs_that_would_vanish_with_the_command_is_refused() {
    let lab = Lab::new();
    let _db = services::tcp(&lab.server, 5432);
    let bin = fwxdp_tests::lab::fwxdp_bin();
    // A private mount namespace without /sys/fs/bpf: the host's mounts are untouched.
    let script = format!(
        "umount /sys/fs/bpf 2>/dev/null; \
         if findmnt -n -t bpf /sys/fs/bpf >/dev/null; then echo still-mounted; exit 3; fi; \
         FWXDP_PIN_ROOT=/sys/fs/bpf/fwxdp nsenter --net=/run/netns/{ns} {bin} attach {SERVER_IF} --allow 22; \
         echo exit=$?; findmnt -n -t bpf /sys/fs/bpf || echo no-bpffs",
        ns = lab.server.name(),
        bin = bin.display(),
    );
    let out = std::process::Command::new("unshare")
        .env("SSH_CONNECTION", "")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("exit=1") && stdout.contains("no-bpffs"),
        "{stdout}"
    );
    assert!(stderr(&out).contains("nsenter --net="), "{}", stderr(&out));
    // What a user types: ip netns exec makes the same kind of namespace.
    let out = std::process::Command::new("ip")
        .env("SSH_CONNECTION", "")
        .env("FWXDP_PIN_ROOT", "/sys/fs/bpf/fwxdp")
        .args(["netns", "exec", lab.server.name()])
        .arg(&bin)
        .args(["attach", SERVER_IF, "--allow", "22"])
        .output()
        .expect("ip netns exec");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("ip netns exec"), "{}", stderr(&out));
    assert_eq!(
        lab.connect(SERVER_V4.into(), 5432),
        Tcp::Open,
        "nothing was left attached"
    );
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

#[test]
fn commands_refuse_a_pin_root_that_is_not_a_bpffs() {
    let lab = Lab::new();
    let dir = std::env::temp_dir().join(format!("{}-notbpf", lab.id()));
    std::fs::create_dir_all(dir.join("eth0")).expect("create");
    std::fs::write(dir.join("eth0").join("precious"), b"keep me").expect("write");
    for args in [
        &["detach", "--all"][..],
        &["detach", "eth0"],
        &["status"],
        &["stats"],
    ] {
        let out = lab
            .fwxdp_command()
            .env("FWXDP_PIN_ROOT", &dir)
            .args(args)
            .output()
            .expect("fwxdp");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("is not on a bpf filesystem"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(
        std::fs::read(dir.join("eth0").join("precious")).expect("kept"),
        b"keep me"
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
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
