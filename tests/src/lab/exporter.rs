//! `fwxdp metrics` in the lab's server namespace, and scrapes of it.

use std::{process::Stdio, thread, time::Duration};

use super::{Lab, run};

/// Where the lab's exporter listens, inside the server namespace.
pub const LISTEN: &str = "127.0.0.1:9814";

/// Starts `fwxdp metrics` with `args` in the server namespace (ended with the lab) and waits
/// until it answers.
///
/// # Panics
/// When it does not answer within five seconds.
pub fn start(lab: &Lab, args: &[&str]) {
    let mut cmd = lab.fwxdp_command();
    cmd.args(["metrics", "--listen", LISTEN])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    lab.spawn(cmd);
    for _ in 0..250 {
        if curl(lab, &["-sf", &format!("http://{LISTEN}/")])
            .status
            .success()
        {
            return;
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!("the exporter did not answer on {LISTEN}");
}

/// Runs curl with `args` in the server namespace.
#[must_use]
pub fn curl(lab: &Lab, args: &[&str]) -> std::process::Output {
    lab.server
        .command("curl")
        .args(["--max-time", "5"])
        .args(args)
        .output()
        .expect("run curl")
}

/// `GET /metrics`, in the classic text format.
#[must_use]
pub fn scrape(lab: &Lab) -> String {
    let out = run(lab.server.command("curl").args([
        "-sf",
        "--max-time",
        "5",
        &format!("http://{LISTEN}/metrics"),
    ]));
    String::from_utf8(out.stdout).expect("UTF-8 scrape")
}

/// The value of the sample `name{labels}` in `text`, labels written as in the exposition.
#[must_use]
pub fn value(text: &str, name: &str, labels: &str) -> Option<u64> {
    let series = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .map(|v| v.trim().parse().expect("integer sample"))
}
