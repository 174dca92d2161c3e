//! What one scrape exports: the pinned state of every interface, turned into series with a
//! bounded number of port labels.

use fwxdp_common::{Proto, Reason};

use crate::{
    mode::AttachMode,
    policy::protocols,
    state::{Filtering, MapsError, PinRoot, PinnedInterface, Totals},
};

/// Port series per interface unless told otherwise.
pub const DEFAULT_MAX_PORT_SERIES: usize = 1000;

/// Interfaces the service should filter but could not attach: name → why. The service
/// keeps it current; each scrape reports what it holds.
pub type Unattached = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, String>>>;

/// How the exporter shapes its series.
#[derive(Clone, Debug)]
pub struct Options {
    /// At most this many (proto, port) series per interface; the rest are summed under
    /// `port="other"`.
    pub max_port_series: usize,
    /// What the service could not attach, reported as unfiltered.
    pub unattached: Unattached,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_port_series: DEFAULT_MAX_PORT_SERIES,
            unattached: Unattached::default(),
        }
    }
}

/// One labelled drop counter: packets and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dropped {
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) packets: u64,
    pub(crate) bytes: u64,
}

/// One interface at scrape time.
#[derive(Clone, Debug)]
pub(crate) struct Interface {
    pub(crate) name: String,
    pub(crate) mode: &'static str,
    pub(crate) monitor: bool,
    pub(crate) open_tcp: u16,
    pub(crate) open_udp: u16,
    pub(crate) dropped: Vec<Dropped>,
    /// Drops the drop log left out: over its rate, and with its ring full.
    pub(crate) log_suppressed: u64,
    pub(crate) log_lost: u64,
    /// Whether the kernel has the filter on the live interface.
    pub(crate) filtering: Filtering,
}

/// Reads every attached interface. One that cannot be read (say, detached mid-scrape) is
/// left out of this scrape, logged, and counted in the second value.
pub(crate) fn interfaces(root: &PinRoot, options: &Options) -> (Vec<Interface>, usize) {
    let pinned = match PinnedInterface::all(root) {
        Ok(pinned) => pinned,
        Err(error) => {
            tracing::warn!("scrape: {error}");
            return (Vec::new(), 1);
        }
    };
    let mut errors = 0;
    let interfaces = pinned
        .into_iter()
        .filter_map(|mut pinned| match interface(&mut pinned, options) {
            Ok(interface) => Some(interface),
            Err(error) => {
                tracing::warn!(interface = %pinned.name(), "scrape: {error}");
                errors += 1;
                None
            }
        })
        .collect();
    (interfaces, errors)
}

fn interface(pinned: &mut PinnedInterface, options: &Options) -> Result<Interface, MapsError> {
    let config = pinned.config()?;
    let totals = pinned.counters()?;
    Ok(Interface {
        dropped: dropped(pinned.name(), &totals, options.max_port_series),
        log_suppressed: totals.log_suppressed,
        log_lost: totals.log_lost,
        mode: AttachMode::from_raw(config.mode).map_or("unknown", AttachMode::name),
        monitor: config.monitor(),
        open_tcp: config.open_tcp,
        open_udp: config.open_udp,
        name: pinned.name().to_owned(),
        filtering: pinned.filtering(),
    })
}

/// The drop series of one interface: the `max_port_series` ports dropped first get their
/// own series, every other port of a protocol is summed under `port="other"` (for UDP-Lite,
/// SCTP and DCCP once there is any), drops of IP
/// protocols without ports carry the protocol (at most 256 series), and the drops that have
/// neither (`loopback`, `malformed`, `blocked`) carry only the interface and the reason.
///
/// Which ports are itemised depends only on the order in which ports were first dropped,
/// which never changes while the interface stays attached: so every series, `other`
/// included, only ever grows.
pub(crate) fn dropped(iface: &str, totals: &Totals, max_port_series: usize) -> Vec<Dropped> {
    let mut by_time: Vec<_> = totals.port_drops.iter().collect();
    by_time.sort_by_key(|t| (t.first_seen, t.proto, t.port));
    let (itemised, rest) = by_time.split_at(max_port_series.min(by_time.len()));
    let mut itemised = itemised.to_vec();
    itemised.sort_by_key(|t| (t.proto, t.port));
    let labels = |proto: Proto, port: String| {
        vec![
            ("interface", iface.to_owned()),
            ("proto", proto.name().to_owned()),
            ("port", port),
            ("reason", Reason::Port.name().to_owned()),
        ]
    };
    let mut series: Vec<Dropped> = itemised
        .iter()
        .map(|t| Dropped {
            labels: labels(t.proto, t.port.to_string()),
            packets: t.counter.packets,
            bytes: t.counter.bytes,
        })
        .collect();
    for proto in Proto::ALL {
        let mut other = totals
            .port_overflow
            .iter()
            .filter(|(p, _)| *p == proto)
            .fold(
                Dropped {
                    labels: labels(proto, "other".into()),
                    packets: 0,
                    bytes: 0,
                },
                |mut d, (_, c)| {
                    d.packets += c.packets;
                    d.bytes += c.bytes;
                    d
                },
            );
        for t in rest.iter().filter(|t| t.proto == proto) {
            other.packets += t.counter.packets;
            other.bytes += t.counter.bytes;
        }
        // TCP and UDP always have theirs; the rarer protocols from their first such drop
        // on (a counter series may start late, never go backwards).
        if matches!(proto, Proto::Tcp | Proto::Udp) || other.packets > 0 {
            series.push(other);
        }
    }
    // One series per limited port at most: the limits bound them.
    for &(proto, port, counter) in &totals.limit_drops {
        series.push(Dropped {
            labels: vec![
                ("interface", iface.to_owned()),
                ("proto", proto.name().to_owned()),
                ("port", port.to_string()),
                ("reason", Reason::Ratelimit.name().to_owned()),
            ],
            packets: counter.packets,
            bytes: counter.bytes,
        });
    }
    for &(number, counter) in &totals.protocol_drops {
        series.push(Dropped {
            labels: vec![
                ("interface", iface.to_owned()),
                ("protocol", protocols::name(number)),
                ("reason", Reason::Protocol.name().to_owned()),
            ],
            packets: counter.packets,
            bytes: counter.bytes,
        });
    }
    for (reason, counter) in &totals.reasons {
        if matches!(
            reason,
            Reason::Loopback | Reason::Malformed | Reason::Blocked
        ) {
            series.push(Dropped {
                labels: vec![
                    ("interface", iface.to_owned()),
                    ("reason", reason.name().to_owned()),
                ],
                packets: counter.packets,
                bytes: counter.bytes,
            });
        }
    }
    series
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::PortTotal;
    use fwxdp_common::Counter;

    fn port(proto: Proto, port: u16, packets: u64, first_seen: u64) -> PortTotal {
        PortTotal {
            proto,
            port,
            counter: Counter {
                packets,
                bytes: packets * 60,
            },
            first_seen,
        }
    }

    fn totals(ports: Vec<PortTotal>, overflow: u64) -> Totals {
        Totals {
            reasons: vec![
                (Reason::Port, Counter::default()),
                (
                    Reason::Loopback,
                    Counter {
                        packets: 2,
                        bytes: 120,
                    },
                ),
                (
                    Reason::Malformed,
                    Counter {
                        packets: 3,
                        bytes: 180,
                    },
                ),
            ],
            port_drops: ports,
            port_overflow: vec![
                (
                    Proto::Tcp,
                    Counter {
                        packets: overflow,
                        bytes: overflow * 60,
                    },
                ),
                (Proto::Udp, Counter::default()),
            ],
            protocol_drops: vec![(
                47,
                Counter {
                    packets: 4,
                    bytes: 400,
                },
            )],
            limit_drops: vec![(
                Proto::Tcp,
                22,
                Counter {
                    packets: 5,
                    bytes: 300,
                },
            )],
            log_suppressed: 0,
            log_lost: 0,
        }
    }

    fn find<'a>(series: &'a [Dropped], port: &str, proto: &str) -> Option<&'a Dropped> {
        series.iter().find(|s| {
            s.labels.contains(&("port", port.to_owned()))
                && s.labels.contains(&("proto", proto.to_owned()))
        })
    }

    #[test]
    fn the_earliest_ports_are_itemised_and_the_rest_summed_exactly() {
        let t = totals(
            vec![
                port(Proto::Tcp, 9000, 5, 3),
                port(Proto::Tcp, 22, 1, 1),
                port(Proto::Udp, 53, 7, 2),
                port(Proto::Tcp, 80, 11, 4),
            ],
            100,
        );
        let series = dropped("eth0", &t, 2);
        assert_eq!(find(&series, "22", "tcp").map(|s| s.packets), Some(1));
        assert_eq!(find(&series, "53", "udp").map(|s| s.packets), Some(7));
        assert!(find(&series, "9000", "tcp").is_none());
        assert_eq!(
            find(&series, "other", "tcp").map(|s| s.packets),
            Some(5 + 11 + 100)
        );
        assert_eq!(find(&series, "other", "udp").map(|s| s.packets), Some(0));
        let is_port = |s: &&Dropped| s.labels.contains(&("reason", "port".into()));
        let port_series = series.iter().filter(is_port).count();
        assert_eq!(
            port_series,
            2 + 2,
            "two ports and one other for TCP and UDP"
        );
        let total: u64 = series.iter().filter(is_port).map(|s| s.packets).sum();
        assert_eq!(total, 1 + 5 + 7 + 11 + 100);
        let limited = series
            .iter()
            .find(|s| s.labels.contains(&("reason", "ratelimit".into())))
            .expect("ratelimit series");
        assert_eq!((limited.packets, limited.bytes), (5, 300));
        assert!(limited.labels.contains(&("port", "22".into())));
        assert!(limited.labels.contains(&("proto", "tcp".into())));
        let loopback = series
            .iter()
            .find(|s| s.labels == vec![("interface", "eth0".into()), ("reason", "loopback".into())])
            .expect("loopback series");
        assert_eq!((loopback.packets, loopback.bytes), (2, 120));
        let gre = series
            .iter()
            .find(|s| s.labels.contains(&("protocol", "gre".into())))
            .expect("gre series");
        assert_eq!((gre.packets, gre.bytes), (4, 400));
        assert!(gre.labels.contains(&("reason", "protocol".into())));
    }

    #[test]
    fn series_only_grow_as_new_ports_are_dropped() {
        let mut ports = Vec::new();
        let mut previous: Vec<Dropped> = Vec::new();
        for step in 0..50u16 {
            // A new port each step, and more drops on an old one.
            ports.push(port(Proto::Tcp, 1000 + step, 1, u64::from(step) + 1));
            ports[usize::from(step / 2)].counter.packets += 1;
            let series = dropped("eth0", &totals(ports.clone(), u64::from(step)), 10);
            for old in &previous {
                let now = series
                    .iter()
                    .find(|s| s.labels == old.labels)
                    .unwrap_or_else(|| panic!("series {:?} vanished", old.labels));
                assert!(
                    now.packets >= old.packets,
                    "{:?} went backwards",
                    old.labels
                );
            }
            previous = series;
        }
    }
}
