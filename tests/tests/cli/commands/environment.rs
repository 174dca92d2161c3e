//! Where acting would do harm, commands refuse: without root, with a pin root off a bpffs or
//! one that would vanish with the command, and when an SSH session would be locked out.

use fwxdp_tests::lab::{Lab, SERVER_IF, SERVER_V4, probe::Tcp, services};

use super::stderr;

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
fn revoke_and_block_guard_the_ssh_session_too() {
    let lab = Lab::new();
    let session = "10.77.0.2 50000 10.77.0.1 22";
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let run = |args: &[&str]| {
        lab.fwxdp_command()
            .env("SSH_CONNECTION", session)
            .args(args)
            .output()
            .expect("fwxdp")
    };
    let out = run(&["revoke", SERVER_IF, "22"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("port 22"), "{}", stderr(&out));
    let allow = lab.status_json()["interfaces"][0]["allow"].clone();
    assert_eq!(allow, serde_json::json!(["22", "80"]));
    // A block of the session's client drops the session itself.
    let out = run(&["block", "--all", "10.77.0.0/16"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("10.77.0.2"), "{}", stderr(&out));
    let blocks = lab.fwxdp_ok(&["blocks", "--json"]);
    assert!(!blocks.contains("10.77.0.0/16"), "{blocks}");
    // Other sources, or forced: applied.
    for args in [
        &["block", "--all", "192.0.2.0/24", "--for", "1m"][..],
        &["block", "--all", "10.77.0.3/32", "--for", "1m", "--force"],
        &["revoke", SERVER_IF, "22", "--force"],
    ] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    lab.fwxdp_ok(&["unblock", "--all", "192.0.2.0/24", "10.77.0.3/32"]);
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
