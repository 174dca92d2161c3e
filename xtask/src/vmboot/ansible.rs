//! The Ansible boot: `dist/ansible`'s role run from this machine against the VM over SSH
//! (Debian's ansible-core, a key made for the run), checked by what the host then reaches:
//! it installs the package and brings the policy up; run again, it changes nothing; a bad
//! variable is refused by `fwxdp check` on the VM and the running policy stays; a policy
//! that shuts the controller out is reverted by the VM itself, and the controller gets in
//! again.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context as _, Result, ensure};

use super::{Ports, report::answers};

/// The key the controller logs in with.
pub(super) struct Key {
    pub(super) private: PathBuf,
    pub(super) public: String,
}

/// Makes a key pair in `work`.
pub(super) fn key(work: &Path) -> Result<Key> {
    let private = work.join("ssh-key");
    crate::step("ssh-keygen (the Ansible controller's key)", {
        let mut cmd = Command::new("ssh-keygen");
        cmd.args(["-q", "-t", "ed25519", "-N", "", "-C", "fwxdp-vmboot", "-f"])
            .arg(&private);
        cmd
    })?;
    let public = fs::read_to_string(private.with_extension("pub")).context("read the key")?;
    Ok(Key { private, public })
}

/// The policy the role applies: SSH and the allowed web server, not the protected one.
const GOOD: &str = r#"{"fwxdp_interfaces": [{"name": ["eth*", "en*"], "allow": ["22", "80"]}]}"#;
/// A typo in a variable, which `fwxdp check` refuses.
const BAD: &str =
    r#"{"fwxdp_interfaces": [{"name": ["eth*", "en*"], "allow": ["22", "80/tcpx"]}]}"#;
/// A valid policy that closes SSH, and so the controller's way in, with a short window.
const SHUT_OUT: &str = r#"{"fwxdp_interfaces": [{"name": ["eth*", "en*"], "allow": ["80"]}],
    "fwxdp_confirm_window": "30s", "fwxdp_reconnect_timeout": 10}"#;
/// How long the shut-out change lasts before the VM reverts it, with a margin.
const SHUT_OUT_LASTS: Duration = Duration::from_secs(40);

/// One run of the playbook.
struct Run {
    ok: bool,
    output: String,
}

impl Run {
    /// The host's `changed=` count from the play recap.
    fn changed(&self) -> Option<u32> {
        self.output
            .lines()
            .filter(|l| l.starts_with("vm "))
            .find_map(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix("changed="))
            })
            .and_then(|n| n.parse().ok())
    }

    /// Whether the task whose name holds `task` failed (a `fatal:` line under its banner).
    fn failed_at(&self, task: &str) -> bool {
        self.output
            .lines()
            .skip_while(|l| !(l.starts_with("TASK [") && l.contains(task)))
            .skip(1)
            .take_while(|l| !l.starts_with("TASK ["))
            .any(|l| l.starts_with("fatal:"))
    }
}

/// Runs the role against the VM behind `ports`, installing `deb`, as `key`.
pub(super) fn run(ports: &Ports, deb: &Path, key: &Path, work: &Path) -> Result<()> {
    let inventory = work.join("inventory.ini");
    fs::write(
        &inventory,
        format!(
            "vm ansible_host=127.0.0.1 ansible_port={} ansible_user=root \
             ansible_ssh_private_key_file={} ansible_python_interpreter=/usr/bin/python3\n",
            ports.ssh,
            key.display()
        ),
    )?;
    let playbook = |name: &str, vars: &str| -> Result<Run> {
        println!("==> ansible-playbook: {name}");
        let dir = crate::workspace_root().join("dist/ansible");
        let out = Command::new("ansible-playbook")
            .current_dir(&dir)
            .arg("-i")
            .arg(&inventory)
            .args(["-e", &format!("fwxdp_deb={}", deb.display()), "-e", vars])
            .arg("site.yml")
            .env("ANSIBLE_CONFIG", dir.join("ansible.cfg"))
            // Everything Ansible keeps goes with the run, not into root's home.
            .env("ANSIBLE_HOME", work.join("ansible-home"))
            .env("ANSIBLE_HOST_KEY_CHECKING", "False")
            .env(
                "ANSIBLE_SSH_ARGS",
                "-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null",
            )
            .env("ANSIBLE_NOCOLOR", "1")
            .output()
            .context("run ansible-playbook (cargo xtask setup installs ansible-core)")?;
        Ok(Run {
            ok: out.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    };
    let filtering = |when: &str| -> Result<()> {
        ensure!(answers(ports.allowed), "port 80 did not answer {when}");
        ensure!(
            !answers(ports.protected),
            "the protected port answered {when}"
        );
        Ok(())
    };

    let first = playbook("install and apply", GOOD)?;
    ensure!(
        first.ok,
        "the role failed on a fresh host:\n{}",
        first.output
    );
    filtering("after the role's first run")?;

    let again = playbook("the same again", GOOD)?;
    ensure!(
        again.ok && again.changed() == Some(0),
        "a second run changed {:?} things:\n{}",
        again.changed(),
        again.output
    );

    let bad = playbook("a bad variable", BAD)?;
    // Refused where the file is written, by fwxdp check naming the bad item.
    ensure!(
        !bad.ok && bad.failed_at("Write /etc/fwxdp/fwxdp.toml") && bad.output.contains("80/tcpx"),
        "a bad allow item was not refused by fwxdp check:\n{}",
        bad.output
    );
    filtering("after the refused change")?;

    let shut = playbook("a policy that shuts the controller out", SHUT_OUT)?;
    // It must fail where the role reconnects, the reload having been made.
    ensure!(
        !shut.ok
            && shut.output.contains("Reload the service")
            && shut.failed_at("Connect again through the new policy"),
        "a policy without SSH did not fail at the reconnection:\n{}",
        shut.output
    );
    std::thread::sleep(SHUT_OUT_LASTS);
    let back = playbook("after the revert", GOOD)?;
    ensure!(
        back.ok,
        "the controller did not get in again after the revert:\n{}",
        back.output
    );
    filtering("after the revert")?;
    println!(
        "    vmboot: the role installed and applied the policy, changed nothing when run again, \
         a bad variable was refused with the policy kept, and a change that shut the controller \
         out was reverted by the VM"
    );
    Ok(())
}
