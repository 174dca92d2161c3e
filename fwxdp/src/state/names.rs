//! The one table of names in an interface's pin directory: each map and program with the
//! name the BPF object gives it and the file it is pinned as, and the links beside them.

use fwxdp_common::{map_name, program_name};

/// Declares an enum of objects in the BPF object, each with its object name and the file it
/// is pinned as: one row per object, so the two names cannot drift apart.
macro_rules! object_pins {
    (
        $(#[$meta:meta])*
        $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => ($object:expr, $pin:literal),)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every one, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant,)+];

            /// The name in the BPF object.
            #[must_use]
            pub const fn object_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $object,)+
                }
            }

            /// The file it is pinned as.
            #[must_use]
            pub const fn pin_name(self) -> &'static str {
                match self {
                    $(Self::$variant => $pin,)+
                }
            }
        }
    };
}

object_pins! {
    /// A map of the BPF object; every interface directory pins each one.
    MapPin {
        /// The live [`fwxdp_common::Config`].
        Config => (map_name::CONFIG, "config"),
        /// Port flags per generation.
        Ports => (map_name::PORTS, "ports"),
        /// Flags of the IP protocols without ports, per generation.
        Protocols => (map_name::PROTOCOLS, "protocols"),
        /// Source networks per (generation, proto, port) and (generation, protocol).
        Cidrs => (map_name::CIDRS, "cidrs"),
        /// Packets and bytes per reason.
        Reasons => (map_name::REASONS, "reasons"),
        /// Drops per (proto, port).
        PortDrops => (map_name::PORT_DROPS, "port_drops"),
        /// Port drops that found the per-port table full.
        PortOverflow => (map_name::PORT_OVERFLOW, "port_overflow"),
        /// Drops per IP protocol number (reason `protocol`).
        ProtocolDrops => (map_name::PROTOCOL_DROPS, "protocol_drops"),
        /// Flows the host started (every protocol but TCP and the unjudged ones).
        Flows => (map_name::FLOWS, "flows"),
        /// How each link role is attached when it is not a pinned BPF link.
        Links => (map_name::LINKS, "links"),
        /// Per-source rate limits per (generation, proto, port).
        Limits => (map_name::LIMITS, "limits"),
        /// Recent new connections per source on limited ports: kept across replacements.
        Rates => (map_name::RATES, "rates"),
        /// Drops per (proto, port) of reason `ratelimit`.
        LimitDrops => (map_name::LIMIT_DROPS, "limit_drops"),
        /// The drop log's ring buffer.
        Log => (map_name::LOG, "log"),
        /// The drop log's window and what it left out, per CPU.
        LogState => (map_name::LOG_STATE, "log_state"),
        /// The program the XDP verdict hands tunnel packets to.
        XdpInner => (map_name::XDP_INNER, "xdp_inner"),
        /// The program the TC verdict hands tunnel packets to.
        TcInner => (map_name::TC_INNER, "tc_inner"),
    }
}

object_pins! {
    /// A program of the BPF object; every interface directory pins all of them, so a mode
    /// switch finds the one it needs bound to the same maps.
    ProgramPin {
        /// The verdict for XDP (native or generic).
        Xdp => (program_name::XDP_INGRESS, "prog_xdp"),
        /// The same verdict as a TC ingress classifier.
        TcIngress => (program_name::TC_INGRESS, "prog_tc_ingress"),
        /// The egress flow tracker.
        TcEgress => (program_name::TC_EGRESS, "prog_egress"),
    }
}

/// A BPF link that attaches one of the programs; pinning it keeps the program attached
/// after the process exits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPin {
    /// The verdict, in the mode in force.
    Ingress,
    /// A second ingress link, held only while the mode changes.
    Bridge,
    /// The egress flow tracker.
    Egress,
}

impl LinkPin {
    /// Every link, in the order removal releases them.
    pub const ALL: &[Self] = &[Self::Ingress, Self::Bridge, Self::Egress];

    /// The role's index in the `links` map.
    #[must_use]
    pub const fn index(self) -> u32 {
        match self {
            Self::Ingress => 0,
            Self::Bridge => 1,
            Self::Egress => 2,
        }
    }

    /// The file the link is pinned as.
    #[must_use]
    pub const fn pin_name(self) -> &'static str {
        match self {
            Self::Ingress => "link_ingress",
            Self::Bridge => "link_bridge",
            Self::Egress => "link_egress",
        }
    }
}

/// Names earlier builds pinned, which removal may still take away.
const RETIRED: [&str; 1] = ["prog_ingress"];

/// Whether `name` is a file fwxdp pins (or pinned in an earlier build): nothing else is ever
/// removed from an interface directory.
#[must_use]
pub fn is_ours(name: &str) -> bool {
    MapPin::ALL.iter().any(|m| m.pin_name() == name)
        || ProgramPin::ALL.iter().any(|p| p.pin_name() == name)
        || LinkPin::ALL.iter().any(|l| l.pin_name() == name)
        || RETIRED.contains(&name)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_pin_name_is_distinct_and_has_no_dot() {
        let names: Vec<&str> = MapPin::ALL
            .iter()
            .map(|m| m.pin_name())
            .chain(ProgramPin::ALL.iter().map(|p| p.pin_name()))
            .chain(LinkPin::ALL.iter().map(|l| l.pin_name()))
            .collect();
        let distinct: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(distinct.len(), names.len(), "{names:?}");
        // bpffs refuses names with a dot.
        assert!(names.iter().all(|n| !n.contains('.')), "{names:?}");
        assert!(names.iter().all(|n| is_ours(n)));
        assert!(is_ours("prog_ingress"));
        assert!(!is_ours("passwd"));
    }
}
