//! A TCP segment that is no SYN must not open a connection on a protected port: a bare ACK
//! carrying a valid SYN cookie would, on any listener (`tcp_syncookies=2` makes the server
//! issue one for every SYN). The host's own outbound connections keep working.

use std::{
    io::{ErrorKind, Read as _, Write as _},
    net::{SocketAddr, TcpListener, TcpStream},
    thread,
    time::{Duration, Instant},
};

use fwxdp_tests::{
    lab::{CLIENT_V4, INTERNET_IF, Lab, SERVER_IF, SERVER_V4, raw},
    packet::{ACK, FrameBuilder, SYN},
};

const PORT: u16 = 5432;

/// Sends a SYN from `CLIENT_V4:sport` and returns the cookie the server answers with.
fn cookie(lab: &Lab, capture: &raw::Capture, sport: u16) -> u32 {
    let syn = FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, sport, PORT, SYN)
        .tcp_seq(1000, 0)
        .macs(macs(lab).0, macs(lab).1)
        .build();
    raw::send(&lab.internet, INTERNET_IF, vec![syn]);
    capture
        .syn_ack_seq(SERVER_V4, PORT, sport, Duration::from_secs(2))
        .expect("a SYN-ACK with a cookie")
}

/// The ACK that completes the handshake of `sport` with `cookie`.
fn ack(lab: &Lab, sport: u16, cookie: u32) -> Vec<u8> {
    FrameBuilder::tcp_v4(CLIENT_V4, SERVER_V4, sport, PORT, ACK)
        .tcp_seq(1001, cookie.wrapping_add(1))
        .macs(macs(lab).0, macs(lab).1)
        .build()
}

fn macs(lab: &Lab) -> ([u8; 6], [u8; 6]) {
    (
        Lab::mac(&lab.internet, INTERNET_IF),
        Lab::mac(&lab.server, SERVER_IF),
    )
}

/// Whether the listener accepts a connection within `wait`.
fn accepts(listener: &TcpListener, wait: Duration) -> Option<SocketAddr> {
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((_, peer)) => return Some(peer),
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("accept: {e}"),
        }
    }
    None
}

#[test]
fn a_syn_cookie_ack_to_a_protected_port_opens_no_connection() {
    let lab = Lab::new();
    lab.server.sysctl("net/ipv4/tcp_syncookies", "2");
    let listener = lab
        .server
        .enter(|| TcpListener::bind(("0.0.0.0", PORT)).expect("bind"));
    listener.set_nonblocking(true).expect("nonblocking");
    let capture = raw::Capture::open(&lab.internet, INTERNET_IF);
    // The reproduction, unfiltered: the cookie ACK alone makes a connection.
    let control = cookie(&lab, &capture, 41_000);
    raw::send(&lab.internet, INTERNET_IF, vec![ack(&lab, 41_000, control)]);
    assert_eq!(
        accepts(&listener, Duration::from_secs(2)).map(|p| p.port()),
        Some(41_000),
        "the unfiltered reproduction made no connection"
    );
    // A cookie issued before the port was protected, used after.
    let issued = cookie(&lab, &capture, 41_001);
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let (before, _) = lab.port_drops("tcp", PORT);
    raw::send(&lab.internet, INTERNET_IF, vec![ack(&lab, 41_001, issued)]);
    assert_eq!(
        accepts(&listener, Duration::from_secs(1)),
        None,
        "the cookie ACK connected"
    );
    let (after, _) = lab.port_drops("tcp", PORT);
    assert_eq!(
        after - before,
        1,
        "the cookie ACK is counted as a port drop"
    );
    // The same ACK still connects once the filter is gone: it was the filter that stopped it.
    lab.fwxdp_ok(&["detach", SERVER_IF]);
    raw::send(&lab.internet, INTERNET_IF, vec![ack(&lab, 41_001, issued)]);
    assert_eq!(
        accepts(&listener, Duration::from_secs(2)).map(|p| p.port()),
        Some(41_001),
        "the cookie had expired: the test proves nothing"
    );
}

#[test]
fn the_hosts_own_outbound_connections_still_download() {
    const SIZE: usize = 16 << 20;
    let lab = Lab::new();
    // A bulk sender on the internet side; the server downloads from it through the filter,
    // every segment of it a non-SYN to the server's ephemeral port.
    let source = lab
        .internet
        .enter(|| TcpListener::bind(("0.0.0.0", 9000)).expect("bind"));
    let sender = thread::spawn(move || {
        let (mut stream, _) = source.accept().expect("accept");
        let chunk = vec![0x5a; 1 << 16];
        for _ in 0..SIZE / chunk.len() {
            stream.write_all(&chunk).expect("send");
        }
    });
    lab.fwxdp_ok(&["attach", SERVER_IF, "--allow", "22"]);
    let received = lab.server.enter(|| {
        let mut stream = TcpStream::connect_timeout(
            &SocketAddr::new(CLIENT_V4.into(), 9000),
            Duration::from_secs(5),
        )
        .expect("connect out");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut received = 0;
        let mut buf = vec![0; 1 << 16];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return received,
                Ok(n) => received += n,
                Err(e) => panic!("download stalled after {received} bytes: {e}"),
            }
        }
    });
    sender.join().expect("sender");
    assert_eq!(received, SIZE);
}
