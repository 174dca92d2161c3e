//! The service's drop log: it reads every attached interface's ring buffer, writes each
//! event to the journal as a line in the style of an iptables LOG line, keeps the last
//! ones, and hands them to `fwxdp log` over a socket in the run directory. One reader per
//! ring: a ring has one consumer position, so `fwxdp log` asks the service rather than
//! taking events from under it.

use std::{
    collections::VecDeque,
    fs,
    io::{self, BufRead as _, BufReader, Write as _},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    sync::{Arc, Mutex, PoisonError},
    thread,
    time::{Duration, Instant},
};

use tracing::{info, warn};

use crate::{
    report,
    state::{DropReader, PinRoot, droplog},
};

/// Events kept for `fwxdp log` without `--follow`.
const HISTORY: usize = 1_000;
/// How often the rings are read: events wait this long at most.
const POLL: Duration = Duration::from_millis(200);
/// How often the attached interfaces are listed again and their rings opened anew (an
/// interface attached afresh has a new ring).
const RESCAN: Duration = Duration::from_secs(2);

/// The socket `fwxdp log` asks, in the run directory.
#[must_use]
pub fn socket_path(run_dir: &Path) -> PathBuf {
    run_dir.join("log.sock")
}

#[derive(Default)]
struct Hub {
    /// JSON lines, oldest first.
    history: VecDeque<String>,
    /// `fwxdp log --follow` clients; one that cannot keep up is let go.
    followers: Vec<UnixStream>,
}

impl Hub {
    fn publish(&mut self, line: String) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.followers
            .retain_mut(|client| writeln!(client, "{line}").is_ok());
        self.history.push_back(line);
    }
}

/// Starts reading the rings of the interfaces attached under `root`, and answering
/// `fwxdp log` on the socket in `run_dir`.
pub fn start(root: PinRoot, run_dir: &Path) -> io::Result<()> {
    fs::create_dir_all(run_dir)?;
    let path = socket_path(run_dir);
    // A socket left by a service that died is in the way; a live one cannot be here (the
    // state lock and the unit allow one service).
    let _: io::Result<()> = fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let hub = Arc::new(Mutex::new(Hub::default()));
    let answering = hub.clone();
    thread::Builder::new()
        .name("droplog-socket".into())
        .spawn(move || answer(&listener, &answering))?;
    thread::Builder::new()
        .name("droplog".into())
        .spawn(move || read(&root, &hub))?;
    Ok(())
}

fn lock(hub: &Mutex<Hub>) -> std::sync::MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves each client in turn: the history, then (for `follow`) every new event.
fn answer(listener: &UnixListener, hub: &Mutex<Hub>) {
    for client in listener.incoming() {
        let Ok(mut client) = client else {
            continue;
        };
        // A client that says nothing must not hold the others up.
        let _: io::Result<()> = client.set_read_timeout(Some(Duration::from_secs(1)));
        let mut request = String::new();
        let Ok(reader) = client.try_clone() else {
            continue;
        };
        if BufReader::new(reader).read_line(&mut request).is_err() {
            continue;
        }
        let follow = request.trim() == "follow";
        // Sent outside the lock, and bounded: a client that does not read must not stop
        // the journal's lines.
        let history: Vec<String> = lock(hub).history.iter().cloned().collect();
        let _: io::Result<()> = client.set_write_timeout(Some(Duration::from_secs(2)));
        let sent = history
            .iter()
            .try_for_each(|line| writeln!(client, "{line}"));
        // From here on a write must never block the reader thread.
        if follow && sent.is_ok() && client.set_nonblocking(true).is_ok() {
            lock(hub).followers.push(client);
        }
    }
}

/// Reads every ring, for good.
fn read(root: &PinRoot, hub: &Mutex<Hub>) {
    let mut readers: Vec<DropReader> = Vec::new();
    let mut scanned = Instant::now()
        .checked_sub(RESCAN)
        .unwrap_or_else(Instant::now);
    loop {
        if scanned.elapsed() >= RESCAN {
            scanned = Instant::now();
            // Drained before they are replaced, so nothing waiting in them is lost.
            drain(&mut readers, hub);
            readers = open_all(root);
        }
        drain(&mut readers, hub);
        thread::sleep(POLL);
    }
}

fn open_all(root: &PinRoot) -> Vec<DropReader> {
    let (readers, errors) = droplog::open_all(root);
    for (name, e) in errors {
        warn!(interface = %name, "drop log unreadable: {e}");
    }
    readers
}

fn drain(readers: &mut [DropReader], hub: &Mutex<Hub>) {
    for reader in readers {
        for entry in reader.drain() {
            info!("{}", report::droplog::line(&entry));
            lock(hub).publish(report::droplog::json(&entry).to_string());
        }
    }
}
