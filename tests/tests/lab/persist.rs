//! `fwxdp save` and `fwxdp diff`: what runs, written as the service's config, comes back
//! exactly when the service starts from it.

use std::net::IpAddr;

use fwxdp_tests::lab::{
    CLIENT_V4, Lab, SERVER_IF, SERVER_V4, daemon::Service, probe::Tcp, services,
};

/// What `status --json` says of the server interface, less what a new attach changes
/// (program, time).
fn state(lab: &Lab) -> serde_json::Value {
    let status = lab.status_json();
    let iface = &status["interfaces"][0];
    serde_json::json!({
        "allow": iface["allow"],
        "limits": iface["limits"],
        "mode": iface["mode"],
        "monitor": iface["monitor"],
        "filtering": iface["filtering"],
    })
}

#[test]
fn saved_state_is_what_a_fresh_service_restores_and_diff_tells_the_rest() {
    let lab = Lab::new();
    let _services = services::tcp_ports(&lab.server, &[80, 2222, 5432, 8000, 8001]);
    let dir = std::env::temp_dir().join(format!("{}-save", lab.id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("fwxdp.toml");
    let config = path.to_str().expect("UTF-8 path");
    std::fs::write(&path, "# kept: the operator's own words\n[metrics]\nlisten = \"127.0.0.1:9998\"\n\n[[interface]]\nname = \"fwx0\"\nallow = [\"22\"]\n").expect("write");

    lab.fwxdp_ok(&[
        "attach",
        SERVER_IF,
        "--allow",
        "22,80",
        "--limit",
        "2222/tcp=3/60s",
        "--mode",
        "tc",
    ]);
    let cidr = format!("5432@{CLIENT_V4}/32");
    lab.fwxdp_ok(&["allow", SERVER_IF, "8000/tcp", &cidr, "ip:esp"]);
    let before = state(&lab);

    let out = lab.fwxdp(&["diff", "--config", config]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("fwx0: allow +80 +2222/tcp +8000/tcp"),
        "{text}"
    );
    assert!(
        text.contains("fwx0: mode tc runs, the file says auto"),
        "{text}"
    );

    let out = lab.fwxdp_ok(&["save", "--config", config]);
    assert!(out.contains("restores fwx0"), "{out}");
    let saved = std::fs::read_to_string(&path).expect("saved");
    assert!(
        saved.starts_with("# kept: the operator's own words"),
        "{saved}"
    );
    assert!(saved.contains("listen = \"127.0.0.1:9998\""), "{saved}");
    let out = lab.fwxdp_ok(&["diff", "--config", config]);
    assert!(out.contains("restores what runs now"), "{out}");

    // A boot: nothing attached, then the service from the saved file.
    lab.fwxdp_ok(&["detach", "--all"]);
    let out = lab.fwxdp(&["diff", "--config", config]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("fwx0: not attached"),
        "{out:?}"
    );
    let service = Service::start(&lab, &saved.replace("127.0.0.1:9998", "127.0.0.1:0"));
    service.wait_ready();
    assert_eq!(state(&lab), before);
    assert_eq!(lab.connect(IpAddr::V4(SERVER_V4), 8000), Tcp::Open);
    assert_eq!(lab.connect(IpAddr::V4(SERVER_V4), 8001), Tcp::Filtered);
    let service_config = service.dir.join("fwxdp.toml");
    let out = lab.fwxdp_ok(&["diff", "--config", service_config.to_str().expect("UTF-8")]);
    assert!(out.contains("restores what runs now"), "{out}");
    drop(service);
    let _: std::io::Result<()> = std::fs::remove_dir_all(&dir);
}
