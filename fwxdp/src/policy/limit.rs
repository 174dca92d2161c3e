//! The rate-limit grammar shared by `--limit` and the config's `limit = [...]`.
//!
//! ```text
//! list   = item *("," item)
//! item   = ports "/" proto "=" count "/" window   ; 22/tcp=4/60s
//! ports  = port ["-" port]
//! count  = 1..=16                                ; new connections per source
//! window = duration                              ; 500ms, 60s, 10m, 1h; at most 1 day
//! ```
//!
//! The protocol is required: a UDP "connection" is every datagram, which is rarely what a
//! limit on a port means.

use std::{fmt, time::Duration};

use fwxdp_common::{LIMIT_MAX_COUNT, LIMIT_MAX_WINDOW_MS, Limit, Proto};

/// A per-source limit on a port range of one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitRule {
    pub first: u16,
    pub last: u16,
    pub proto: Proto,
    pub limit: Limit,
}

impl fmt::Display for LimitRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first)?;
        if self.last != self.first {
            write!(f, "-{}", self.last)?;
        }
        write!(f, "/{}={}", self.proto.name(), display(self.limit))
    }
}

/// `COUNT/WINDOW` in the shortest unit that states the window exactly.
#[must_use]
pub fn display(limit: Limit) -> String {
    let ms = limit.window_ms;
    let window = if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1_000) {
        format!("{}s", ms / 1_000)
    } else {
        format!("{ms}ms")
    };
    format!("{}/{window}", limit.count)
}

/// A bad limit item, named as written, with what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad limit item {item:?}: {why}")]
pub struct LimitError {
    pub item: String,
    pub why: String,
}

/// Parses a comma-separated list such as `22/tcp=4/60s,2222/tcp=10/1m`, reporting every bad
/// item.
pub fn parse_list(list: &str) -> Result<Vec<LimitRule>, Vec<LimitError>> {
    super::spec::each_item(list, parse_item)
}

/// Parses one item such as `22/tcp=4/60s`.
pub fn parse_item(item: &str) -> Result<LimitRule, LimitError> {
    let bad = |why: String| LimitError {
        item: item.to_owned(),
        why,
    };
    let Some((head, rate)) = item.split_once('=') else {
        return Err(bad(
            "expected PORT/PROTO=COUNT/WINDOW, for example 22/tcp=4/60s".to_owned(),
        ));
    };
    let Some((ports, proto)) = head.split_once('/') else {
        return Err(bad(format!(
            "name the protocol, for example {}/tcp={rate}",
            head.trim()
        )));
    };
    let Some(proto) = Proto::from_name(proto.trim()) else {
        return Err(bad(format!(
            "unknown protocol {:?} (use tcp, udp, udplite, sctp or dccp)",
            proto.trim().to_ascii_lowercase()
        )));
    };
    let port = |text: &str| -> Result<u16, LimitError> {
        match text.trim().parse::<u16>() {
            Ok(0) | Err(_) => Err(bad(format!("{:?} is not a port 1-65535", text.trim()))),
            Ok(port) => Ok(port),
        }
    };
    let (first, last) = if let Some((low, high)) = ports.split_once('-') {
        (port(low)?, port(high)?)
    } else {
        let p = port(ports)?;
        (p, p)
    };
    if first > last {
        return Err(bad(format!("range {first}-{last} is inverted")));
    }
    let Some((count, window)) = rate.split_once('/') else {
        return Err(bad(format!(
            "expected COUNT/WINDOW after '=', for example 4/60s, not {rate:?}"
        )));
    };
    let Ok(count @ 1..=LIMIT_MAX_COUNT) = count.trim().parse::<u32>() else {
        return Err(bad(format!(
            "the count {:?} must be 1-{LIMIT_MAX_COUNT} new connections per window",
            count.trim()
        )));
    };
    let window = humantime::parse_duration(window.trim()).map_err(|e| {
        bad(format!(
            "the window {:?} is not a duration ({e})",
            window.trim()
        ))
    })?;
    let max = Duration::from_millis(u64::from(LIMIT_MAX_WINDOW_MS));
    if window < Duration::from_millis(1) || window > max || window.subsec_nanos() % 1_000_000 != 0 {
        return Err(bad(format!(
            "the window {} must be whole milliseconds from 1ms to 1 day",
            humantime::format_duration(window)
        )));
    }
    let window_ms = u32::try_from(window.as_millis()).unwrap_or(LIMIT_MAX_WINDOW_MS);
    Ok(LimitRule {
        first,
        last,
        proto,
        limit: Limit { count, window_ms },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(count: u32, window_ms: u32) -> Limit {
        Limit { count, window_ms }
    }

    #[test]
    fn parses_and_displays_limits() {
        let rules =
            parse_list("22/tcp=4/60s, 2222-2223/TCP=10/1m,5060/udp=16/500ms,80/tcp=1/2h").unwrap();
        assert_eq!(
            rules,
            vec![
                LimitRule {
                    first: 22,
                    last: 22,
                    proto: Proto::Tcp,
                    limit: limit(4, 60_000)
                },
                LimitRule {
                    first: 2222,
                    last: 2223,
                    proto: Proto::Tcp,
                    limit: limit(10, 60_000)
                },
                LimitRule {
                    first: 5060,
                    last: 5060,
                    proto: Proto::Udp,
                    limit: limit(16, 500)
                },
                LimitRule {
                    first: 80,
                    last: 80,
                    proto: Proto::Tcp,
                    limit: limit(1, 7_200_000)
                },
            ]
        );
        let shown: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "22/tcp=4/1m",
                "2222-2223/tcp=10/1m",
                "5060/udp=16/500ms",
                "80/tcp=1/2h"
            ]
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            ("22/tcp", "expected PORT/PROTO=COUNT/WINDOW"),
            ("22=4/60s", "name the protocol, for example 22/tcp=4/60s"),
            ("22/icmp=4/60s", "unknown protocol \"icmp\""),
            ("0/tcp=4/60s", "\"0\" is not a port"),
            ("70000/tcp=4/60s", "\"70000\" is not a port"),
            ("30-20/tcp=4/60s", "range 30-20 is inverted"),
            ("22/tcp=4", "expected COUNT/WINDOW"),
            ("22/tcp=0/60s", "the count \"0\" must be 1-16"),
            ("22/tcp=17/60s", "the count \"17\" must be 1-16"),
            ("22/tcp=4/soon", "the window \"soon\" is not a duration"),
            (
                "22/tcp=4/2days",
                "must be whole milliseconds from 1ms to 1 day",
            ),
            (
                "22/tcp=4/10us",
                "must be whole milliseconds from 1ms to 1 day",
            ),
        ];
        for (item, want) in cases {
            let err = parse_item(item).unwrap_err().to_string();
            assert!(err.contains(want), "{item}: {err}");
            assert!(err.contains(&format!("{item:?}")), "{item}: {err}");
        }
        let errors = parse_list("22/tcp=4/60s,,x").unwrap_err();
        assert_eq!(errors.len(), 2);
    }
}
