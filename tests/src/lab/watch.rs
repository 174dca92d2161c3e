//! Watching an interface while its filter changes: clients that must never get in, clients
//! that must never be shut out, and a stream of raw SYNs that must all be dropped.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    thread,
    time::Duration,
};

use super::{CLIENT_V4, INTERNET_IF, Lab, SERVER_IF, SERVER_V4, eventually, probe, raw};
use crate::packet::{FrameBuilder, SYN};

/// What the watchers saw.
#[derive(Debug, Default)]
pub struct Report {
    /// Connections that got through to the protected port.
    pub leaks: u64,
    /// Connections to the allowed port that failed.
    pub outages: u64,
    /// Connection attempts made, both ports.
    pub attempts: u64,
    /// Raw SYNs sent to the port that only raw frames target.
    pub raw_sent: u64,
    /// How many of those the filter counted as dropped.
    pub raw_dropped: u64,
    /// How many of those the server answered with a SYN-ACK: each one reached its listener.
    pub raw_answered: u64,
}

/// How many raw SYNs may vanish uncounted. veth frees the frames queued for its XDP ring when
/// native XDP is detached (`veth_napi_del`), so a mode switch can lose a frame that no program
/// saw; it never reaches the stack either, which the SYN-ACK capture proves.
const LOST_IN_DRIVER: u64 = 20;

/// Runs `change` while one client keeps connecting to `allowed` (which must always answer),
/// another to `protected` (which must never answer), and raw SYNs stream to `raw_port`.
/// Services must listen on all three ports in the server namespace.
pub fn while_changing(
    lab: &Lab,
    allowed: u16,
    protected: u16,
    raw_port: u16,
    change: impl FnOnce(),
) -> Report {
    watch(lab, allowed, protected, raw_port, change, true)
}

/// [`while_changing`] for a change that starts the counters again (an upgrade to maps of
/// another layout): the raw SYNs' drops are not counted ([`Report::raw_dropped`] is 0), and
/// [`Report::assert_held_uncounted`] judges the rest.
pub fn while_maps_change(
    lab: &Lab,
    allowed: u16,
    protected: u16,
    raw_port: u16,
    change: impl FnOnce(),
) -> Report {
    watch(lab, allowed, protected, raw_port, change, false)
}

fn watch(
    lab: &Lab,
    allowed: u16,
    protected: u16,
    raw_port: u16,
    change: impl FnOnce(),
    counted: bool,
) -> Report {
    let (leaks, outages, attempts) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let raw_before = lab.port_drops("tcp", raw_port).0;
    let capture = raw::Capture::open(&lab.internet, INTERNET_IF);
    let capture_done = AtomicBool::new(false);
    let (raw_answered, raw_sent, raw_dropped) = thread::scope(|outer| {
        let answers = outer.spawn(|| capture.syn_acks_from(SERVER_V4, raw_port, &capture_done));
        // Ends the capture even when `change` panics; the scope would wait for it forever.
        let done = SetOnDrop(&capture_done);
        let raw_sent = stream(
            lab,
            allowed,
            protected,
            raw_port,
            change,
            [&leaks, &outages, &attempts],
        );
        let want = raw_before + raw_sent;
        let raw_dropped = if counted {
            eventually(&want, || lab.port_drops("tcp", raw_port).0) - raw_before
        } else {
            0
        };
        // A SYN-ACK takes well under this to come back.
        thread::sleep(Duration::from_millis(200));
        drop(done);
        (
            answers.join().expect("capture thread"),
            raw_sent,
            raw_dropped,
        )
    });
    Report {
        leaks: leaks.load(Ordering::Relaxed),
        outages: outages.load(Ordering::Relaxed),
        attempts: attempts.load(Ordering::Relaxed),
        raw_sent,
        raw_dropped,
        raw_answered,
    }
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the probes and the raw stream while `change` runs; returns how many raw SYNs were sent.
fn stream(
    lab: &Lab,
    allowed: u16,
    protected: u16,
    raw_port: u16,
    change: impl FnOnce(),
    [leaks, outages, attempts]: [&AtomicU64; 3],
) -> u64 {
    let stop = AtomicBool::new(false);
    let raw_sent = AtomicU64::new(0);
    let (src_mac, dst_mac) = (
        Lab::mac(&lab.internet, INTERNET_IF),
        Lab::mac(&lab.server, SERVER_IF),
    );
    thread::scope(|scope| {
        for (port, bad, counter, timeout) in [
            (
                protected,
                probe::Tcp::Open,
                leaks,
                Duration::from_millis(300),
            ),
            (
                allowed,
                probe::Tcp::Filtered,
                outages,
                Duration::from_secs(2),
            ),
        ] {
            let stop = &stop;
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let to = SocketAddr::new(SERVER_V4.into(), port);
                    let result = probe::tcp(&lab.internet, None, to, timeout);
                    attempts.fetch_add(1, Ordering::Relaxed);
                    if result == bad {
                        counter.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let (stop, raw_sent) = (&stop, &raw_sent);
        scope.spawn(move || {
            let mut source_port = 20_000u16;
            while !stop.load(Ordering::Relaxed) {
                let frames: Vec<Vec<u8>> = (0..20)
                    .map(|_| {
                        source_port = source_port.wrapping_add(1).max(20_000);
                        FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, source_port, raw_port, SYN)
                            .macs(src_mac, dst_mac)
                            .build()
                    })
                    .collect();
                raw::send(&lab.internet, INTERNET_IF, frames);
                raw_sent.fetch_add(20, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(5));
            }
        });
        change();
        stop.store(true, Ordering::Relaxed);
    });
    raw_sent.load(Ordering::Relaxed)
}

impl Report {
    /// Fails unless the filter held throughout and enough happened to mean something.
    ///
    /// # Panics
    /// When a protected connection got in, an allowed one failed, a raw SYN was answered, or
    /// more raw SYNs went uncounted than the driver can lose.
    pub fn assert_held(&self, what: &str) {
        self.assert_held_uncounted(what);
        assert!(
            self.raw_dropped <= self.raw_sent && self.raw_sent - self.raw_dropped <= LOST_IN_DRIVER,
            "{what}: raw SYNs not all dropped: {self:?}"
        );
    }

    /// [`Self::assert_held`] but for the count of raw SYNs dropped: a change that starts the
    /// counters again cannot be judged by them (the SYN-ACK capture still proves that none
    /// reached the listener).
    ///
    /// # Panics
    /// As [`Self::assert_held`].
    pub fn assert_held_uncounted(&self, what: &str) {
        assert!(
            self.attempts > 10,
            "{what}: too few probes to mean anything: {self:?}"
        );
        assert!(
            self.raw_sent > 100,
            "{what}: too few raw SYNs to mean anything: {self:?}"
        );
        assert_eq!(
            self.leaks, 0,
            "{what}: the protected port connected: {self:?}"
        );
        assert_eq!(self.outages, 0, "{what}: the allowed port failed: {self:?}");
        assert_eq!(
            self.raw_answered, 0,
            "{what}: raw SYNs reached the listener: {self:?}"
        );
    }
}

/// Streams raw SYNs to `port` while `change` runs and a moment after, and counts the
/// server's SYN-ACKs for them: each one is a SYN that reached the listener. Returns (sent,
/// answered) and what `change` returned.
pub fn raw_answers_during<T>(lab: &Lab, port: u16, change: impl FnOnce() -> T) -> (u64, u64, T) {
    let (src_mac, dst_mac) = (
        Lab::mac(&lab.internet, INTERNET_IF),
        Lab::mac(&lab.server, SERVER_IF),
    );
    let capture = raw::Capture::open(&lab.internet, INTERNET_IF);
    let (capture_done, stop, sent) = (
        AtomicBool::new(false),
        AtomicBool::new(false),
        AtomicU64::new(0),
    );
    thread::scope(|scope| {
        let answers = scope.spawn(|| capture.syn_acks_from(SERVER_V4, port, &capture_done));
        let done = SetOnDrop(&capture_done);
        let stopped = SetOnDrop(&stop);
        let sender = scope.spawn(|| {
            let mut source_port = 40_000u16;
            while !stop.load(Ordering::Relaxed) {
                let frames: Vec<Vec<u8>> = (0..10)
                    .map(|_| {
                        source_port = source_port.wrapping_add(1).max(40_000);
                        FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, source_port, port, SYN)
                            .macs(src_mac, dst_mac)
                            .build()
                    })
                    .collect();
                raw::send(&lab.internet, INTERNET_IF, frames);
                sent.fetch_add(10, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(2));
            }
        });
        let value = change();
        thread::sleep(Duration::from_millis(50));
        drop(stopped);
        sender.join().expect("sender");
        // A SYN-ACK takes well under this to come back.
        thread::sleep(Duration::from_millis(100));
        drop(done);
        let answered = answers.join().expect("capture thread");
        (sent.load(Ordering::Relaxed), answered, value)
    })
}
