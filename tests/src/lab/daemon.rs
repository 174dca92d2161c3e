//! `fwxdp run` in the lab: started with its config, log, state and run directories in a
//! directory of its own, and read through a real `NOTIFY_SOCKET`.

use std::{
    fs,
    os::unix::net::UnixDatagram,
    path::PathBuf,
    process::Stdio,
    thread,
    time::{Duration, Instant},
};

use super::{Lab, SERVER_IF};

/// A running `fwxdp run` with its config, log and notify socket in a directory of its own.
pub struct Service<'a> {
    lab: &'a Lab,
    /// Its config, log, state and run directories.
    pub dir: PathBuf,
    pub pid: u32,
    notify: UnixDatagram,
}

/// One `[[interface]]` table for the lab's server interface.
#[must_use]
pub fn interface(allow: &str) -> String {
    let items: Vec<String> = allow.split(',').map(|i| format!("{i:?}")).collect();
    format!(
        "[[interface]]\nname = \"{SERVER_IF}\"\nallow = [{}]\n",
        items.join(", ")
    )
}

impl<'a> Service<'a> {
    /// Starts `fwxdp run` with `config`.
    ///
    /// # Panics
    /// When the directory cannot be written or the service started.
    pub fn start(lab: &'a Lab, config: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("{}-service", lab.id()));
        fs::create_dir_all(&dir).expect("service dir");
        fs::write(dir.join("fwxdp.toml"), config).expect("write config");
        Self::launch(lab, dir)
    }

    fn launch(lab: &'a Lab, dir: PathBuf) -> Self {
        let socket = dir.join("notify.sock");
        let notify = UnixDatagram::bind(&socket).expect("bind the notify socket");
        notify
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        let log = fs::File::create(dir.join("log")).expect("log file");
        let mut cmd = lab.fwxdp_command();
        cmd.arg("run")
            .arg("--config")
            .arg(dir.join("fwxdp.toml"))
            .arg("--state-dir")
            .arg(dir.join("state"))
            .arg("--run-dir")
            .arg(dir.join("run"))
            .env("NOTIFY_SOCKET", &socket)
            .stdout(Stdio::null())
            .stderr(log);
        let pid = lab.spawn(cmd);
        Self {
            lab,
            dir,
            pid,
            notify,
        }
    }

    /// Starts the service again after `before` stopped, in the same directory (so with
    /// its state), with `config`.
    ///
    /// # Panics
    /// When the directory cannot be written or the service started.
    pub fn restart(lab: &'a Lab, before: &Service<'a>, config: &str) -> Self {
        let dir = before.dir.clone();
        fs::write(dir.join("fwxdp.toml"), config).expect("write config");
        let socket = dir.join("notify.sock");
        let _: std::io::Result<()> = fs::remove_file(&socket);
        Self::launch(lab, dir)
    }

    /// The next message on the notify socket, waiting up to `timeout`.
    #[must_use]
    pub fn notification(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(len) = self.notify.recv(&mut buf) {
                return Some(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
        }
        None
    }

    /// Waits for READY=1, checking at that moment that the filter is already in place.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let Some(message) = self.notification(Duration::from_millis(200)) else {
                continue;
            };
            if message.lines().any(|l| l == "READY=1") {
                let link = self.lab.pin_root().join(SERVER_IF).join("link_ingress");
                assert!(link.exists(), "READY=1 before the filter was attached");
                return;
            }
        }
        panic!("no READY=1 within 10 s; log:\n{}", self.log());
    }

    pub fn rewrite(&self, config: &str) {
        fs::write(self.dir.join("fwxdp.toml"), config).expect("write config");
    }

    #[must_use]
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Polls until `check` holds (five seconds at most).
    pub fn until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !check() {
            assert!(
                Instant::now() < deadline,
                "never: {what}; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service<'_> {
    fn drop(&mut self) {
        let _: std::io::Result<()> = fs::remove_dir_all(&self.dir);
    }
}
