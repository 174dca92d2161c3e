//! The blocklist on real connections: `block`, `unblock` and `blocks`, and a real fail2ban
//! banning through the shipped action.

use std::{
    fs,
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::Command,
    thread,
    time::{Duration, Instant},
};

use fwxdp_tests::lab::{
    CLIENT_V4, CLIENT_V6, CLIENT2_V4, CLIENT2_V6, Lab, PROBE_TIMEOUT, SERVER_IF, SERVER_V4,
    SERVER_V6, fwxdp_bin,
    probe::{self, Tcp},
    services,
};

fn connect(lab: &Lab, from: IpAddr, port: u16) -> Tcp {
    let to: IpAddr = if from.is_ipv4() {
        SERVER_V4.into()
    } else {
        SERVER_V6.into()
    };
    probe::tcp(
        &lab.internet,
        Some(from),
        SocketAddr::new(to, port),
        PROBE_TIMEOUT,
    )
}

fn blocks(lab: &Lab) -> Vec<String> {
    let json: serde_json::Value =
        serde_json::from_str(&lab.fwxdp_ok(&["blocks", "--json"])).expect("blocks JSON");
    json["blocks"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|b| {
            format!(
                "{} {}",
                b["scope"].as_str().unwrap(),
                b["network"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn a_block_cuts_a_source_on_every_port_while_others_connect() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22, 80]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    let out = lab.fwxdp_ok(&[
        "block",
        "--all",
        &CLIENT_V4.to_string(),
        &format!("{CLIENT_V6}/128"),
    ]);
    assert!(
        out.contains(&format!(
            "blocked {CLIENT_V4}/32 on every interface until unblocked"
        )),
        "{out}"
    );
    for port in [22, 80] {
        assert_eq!(
            connect(&lab, CLIENT_V4.into(), port),
            Tcp::Filtered,
            "v4 :{port}"
        );
        assert_eq!(
            connect(&lab, CLIENT_V6.into(), port),
            Tcp::Filtered,
            "v6 :{port}"
        );
        assert_eq!(
            connect(&lab, CLIENT2_V4.into(), port),
            Tcp::Open,
            "other v4 :{port}"
        );
        assert_eq!(
            connect(&lab, CLIENT2_V6.into(), port),
            Tcp::Open,
            "other v6 :{port}"
        );
    }
    assert_eq!(
        blocks(&lab),
        [
            format!("all {CLIENT_V4}/32"),
            format!("all {CLIENT_V6}/128")
        ]
    );
    let stats = lab.stats_json();
    assert!(
        stats["interfaces"][0]["reasons"]["blocked"]["packets"].as_u64() > Some(0),
        "{stats}"
    );
    // Independent of the allow list: a replacement in place keeps it.
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80,443"]);
    assert_eq!(
        connect(&lab, CLIENT_V4.into(), 22),
        Tcp::Filtered,
        "after a replacement"
    );
    // And so does a re-created interface, attached afresh.
    lab.recreate_server_link();
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22,80"]);
    assert_eq!(
        connect(&lab, CLIENT_V4.into(), 22),
        Tcp::Filtered,
        "after re-creation"
    );
    assert_eq!(
        connect(&lab, CLIENT2_V4.into(), 22),
        Tcp::Open,
        "others after re-creation"
    );
    let out = lab.fwxdp_ok(&[
        "unblock",
        "--all",
        &CLIENT_V4.to_string(),
        &format!("{CLIENT_V6}/128"),
    ]);
    assert!(
        out.contains(&format!("unblocked {CLIENT_V4}/32 on every interface")),
        "{out}"
    );
    assert_eq!(connect(&lab, CLIENT_V4.into(), 22), Tcp::Open, "unblocked");
    assert_eq!(
        connect(&lab, CLIENT_V6.into(), 80),
        Tcp::Open,
        "unblocked v6"
    );
    assert!(blocks(&lab).is_empty());
    let out = lab.fwxdp_ok(&["unblock", "--all", &CLIENT_V4.to_string()]);
    assert!(out.contains("was not blocked"), "{out}");
}

#[test]
fn a_timed_block_expires_and_an_interface_block_stays_on_its_interface() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22]);
    // Given before anything is attached: in force from the first attach on.
    lab.fwxdp_ok(&["block", SERVER_IF, &format!("{CLIENT2_V4}/32")]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    assert_eq!(
        connect(&lab, CLIENT2_V4.into(), 22),
        Tcp::Filtered,
        "blocked on {SERVER_IF}"
    );
    lab.fwxdp_ok(&["block", "other0", &CLIENT_V4.to_string()]);
    assert_eq!(
        connect(&lab, CLIENT_V4.into(), 22),
        Tcp::Open,
        "blocked on another interface only"
    );
    let given = Instant::now();
    let out = lab.fwxdp_ok(&["block", "--all", "--for", "2s", &CLIENT_V4.to_string()]);
    assert!(out.contains("for 2s"), "{out}");
    assert_eq!(
        connect(&lab, CLIENT_V4.into(), 22),
        Tcp::Filtered,
        "within its 2 s"
    );
    assert!(
        given.elapsed() < Duration::from_secs(2),
        "too slow to see the block in force"
    );
    let listed = lab.fwxdp_ok(&["blocks"]);
    assert!(
        listed.contains("in ") && listed.contains("other0"),
        "{listed}"
    );
    thread::sleep(
        Duration::from_secs(2).saturating_sub(given.elapsed()) + Duration::from_millis(300),
    );
    assert_eq!(connect(&lab, CLIENT_V4.into(), 22), Tcp::Open, "expired");
    assert_eq!(
        blocks(&lab),
        [
            format!("{SERVER_IF} {CLIENT2_V4}/32"),
            format!("other0 {CLIENT_V4}/32")
        ],
        "an expired block is not listed"
    );
}

#[test]
fn bad_block_targets_are_refused_with_exit_2() {
    let lab = Lab::new();
    for (args, want) in [
        (vec!["block", SERVER_IF], "name at least one address"),
        (
            vec!["block", "203.0.113.7"],
            "name the interfaces, or give --all",
        ),
        (
            vec!["block", "--all", SERVER_IF, "203.0.113.7"],
            "--all and interface names",
        ),
        (
            vec!["block", "--all", "203.0.113.300"],
            "is not an IPv4 or IPv6",
        ),
        (vec!["block", "--all", "10.0.0.1/8"], "host bits set"),
        (vec!["block", "--all", "--for", "soon", "10.0.0.1"], "soon"),
        (
            vec!["unblock", "10.0.0.1"],
            "name the interfaces, or give --all",
        ),
    ] {
        let out = lab.fwxdp(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert!(blocks(&lab).is_empty());
}

/// A fail2ban server of the test's own, in the server namespace, with a jail on a log file.
struct Fail2ban {
    dir: PathBuf,
}

impl Fail2ban {
    const JAIL: &str = "fwxdp-test";
    /// Long enough to outlast fail2ban on a loaded machine (the suite's crash tests run beside
    /// this one): its actions ran 16 s after it found the failures once, and it ignores a ban
    /// whose bantime, counted from the failures, is over by then.
    const BANTIME_S: u64 = 30;

    fn start(lab: &Lab) -> (Self, u32) {
        let dir = std::env::temp_dir().join(format!("{}-f2b", lab.id()));
        let _: std::io::Result<()> = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("action.d")).expect("fail2ban dir");
        fs::create_dir_all(dir.join("filter.d")).expect("fail2ban dir");
        let shipped =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/fail2ban/action.d/fwxdp.conf");
        fs::copy(&shipped, dir.join("action.d/fwxdp.conf")).expect("the shipped action");
        let d = dir.display();
        fs::write(
            dir.join("fail2ban.conf"),
            format!(
                "[Definition]\nloglevel = INFO\nlogtarget = {d}/fail2ban.log\nsocket = {d}/sock\n\
                 pidfile = {d}/pid\ndbfile = :memory:\n"
            ),
        )
        .expect("fail2ban.conf");
        fs::write(
            dir.join("filter.d/fwxdp-test.conf"),
            "[Definition]\nfailregex = ^ Failed password for \\S+ from <HOST> port \\d+ ssh2$\n",
        )
        .expect("filter");
        fs::write(dir.join("auth.log"), "").expect("log");
        fs::write(
            dir.join("jail.conf"),
            format!(
                "[DEFAULT]\nbackend = polling\n\n[{jail}]\nenabled = true\nfilter = fwxdp-test\n\
                 logpath = {d}/auth.log\nmaxretry = 3\nfindtime = 60\nbantime = {ban}\n\
                 action = fwxdp[fwxdp=\"{bin}\"]\n",
                jail = Self::JAIL,
                ban = Self::BANTIME_S,
                bin = fwxdp_bin().display(),
            ),
        )
        .expect("jail.conf");
        let mut server = lab.server.command("fail2ban-server");
        server
            .args(["-f", "-x", "-c"])
            .arg(&dir)
            .arg("-s")
            .arg(dir.join("sock"))
            .arg("-p")
            .arg(dir.join("pid"))
            .env("FWXDP_PIN_ROOT", lab.pin_root())
            .env("SSH_CONNECTION", "");
        let pid = lab.spawn(server);
        let f2b = Self { dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !f2b.client(&["status", Self::JAIL]).status.success() {
            assert!(
                Instant::now() < deadline,
                "fail2ban never started: {}",
                f2b.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
        (f2b, pid)
    }

    fn client(&self, args: &[&str]) -> std::process::Output {
        Command::new("fail2ban-client")
            .arg("-c")
            .arg(&self.dir)
            .arg("-s")
            .arg(self.dir.join("sock"))
            .args(args)
            .output()
            .expect("run fail2ban-client")
    }

    /// Appends failed SSH logins from `from`, dated now, as sshd logs them.
    fn failed_logins(&self, from: IpAddr, count: usize) {
        use std::io::Write as _;
        let mut log = fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("auth.log"))
            .expect("open the log");
        for i in 0..count {
            let now = humantime_now();
            writeln!(
                log,
                "{now} Failed password for root from {from} port {} ssh2",
                40_000 + i
            )
            .expect("write the log");
        }
    }

    fn log(&self) -> String {
        fs::read_to_string(self.dir.join("fail2ban.log")).unwrap_or_default()
    }
}

impl Drop for Fail2ban {
    fn drop(&mut self) {
        let _: std::process::Output = self.client(&["stop"]);
        let _: std::io::Result<()> = fs::remove_dir_all(&self.dir);
    }
}

/// The local time as `2026-12-01 18:20:00`, the form fail2ban's date detector reads first.
fn humantime_now() -> String {
    let out = Command::new("date")
        .arg("+%Y-%m-%d %H:%M:%S")
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn fail2ban_bans_through_the_fwxdp_action_and_unbans_after_its_bantime() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[22]);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let (f2b, pid) = Fail2ban::start(&lab);
    assert_eq!(
        connect(&lab, CLIENT_V4.into(), 22),
        Tcp::Open,
        "before the failures"
    );
    let failed = Instant::now();
    f2b.failed_logins(CLIENT_V4.into(), 3);
    // fail2ban polls the log once a second, and acts much later when the machine is busy.
    let deadline = Instant::now() + Duration::from_secs(Fail2ban::BANTIME_S);
    while blocks(&lab) != [format!("all {CLIENT_V4}/32")] {
        assert!(
            Instant::now() < deadline,
            "fail2ban did not ban: {}",
            f2b.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    let banned = Instant::now();
    assert_eq!(connect(&lab, CLIENT_V4.into(), 22), Tcp::Filtered, "banned");
    assert_eq!(
        connect(&lab, CLIENT2_V4.into(), 22),
        Tcp::Open,
        "another client"
    );
    let deadline = banned + Duration::from_secs(Fail2ban::BANTIME_S + 10);
    while !blocks(&lab).is_empty() {
        assert!(
            Instant::now() < deadline,
            "fail2ban did not unban: {}",
            f2b.log()
        );
        thread::sleep(Duration::from_millis(200));
    }
    // fail2ban times the ban from the failures' log time, which has whole seconds: the ban
    // began at most a second before they were written, and lasts its bantime.
    assert!(
        failed.elapsed() >= Duration::from_secs(Fail2ban::BANTIME_S - 1),
        "unbanned early"
    );
    assert_eq!(
        connect(&lab, CLIENT_V4.into(), 22),
        Tcp::Open,
        "after the bantime"
    );
    drop(f2b);
    assert!(
        lab.wait(pid, Duration::from_secs(10)).is_some(),
        "fail2ban did not stop"
    );
}
