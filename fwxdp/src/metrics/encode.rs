//! One scrape's series in the exposition format, through prometheus-client.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use super::series::Interface;

/// The metrics of one scrape, encoded when the registry is.
#[derive(Debug)]
struct Scrape {
    interfaces: Vec<Interface>,
    /// Interfaces the service should filter but could not attach.
    unattached: Vec<String>,
    errors: usize,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut packets = encoder.encode_descriptor(
            "fwxdp_dropped_packets",
            "Packets dropped (in monitor mode: that would have been), by reason, and for \
             reason port by protocol and port",
            None,
            MetricType::Counter,
        )?;
        for series in self.interfaces.iter().flat_map(|i| &i.dropped) {
            ConstCounter::new(series.packets).encode(packets.encode_family(&series.labels)?)?;
        }
        let mut bytes = encoder.encode_descriptor(
            "fwxdp_dropped_bytes",
            "Bytes of the packets counted by fwxdp_dropped_packets_total",
            None,
            MetricType::Counter,
        )?;
        for series in self.interfaces.iter().flat_map(|i| &i.dropped) {
            ConstCounter::new(series.bytes).encode(bytes.encode_family(&series.labels)?)?;
        }
        self.encode_log(&mut encoder)?;
        let mut attached = encoder.encode_descriptor(
            "fwxdp_attached",
            "1 for each interface fwxdp filters, labelled with the mode in force; 0 where its \
             pins remain but the kernel no longer filters the interface",
            None,
            MetricType::Gauge,
        )?;
        for i in &self.interfaces {
            let labels = [("interface", i.name.as_str()), ("mode", i.mode)];
            ConstGauge::new(i64::from(i.filtering.is_yes()))
                .encode(attached.encode_family(&labels)?)?;
        }
        let mut unfiltered = encoder.encode_descriptor(
            "fwxdp_interface_unfiltered",
            "1 where an interface fwxdp should filter is not filtered, with the reason \
             (interface_gone, recreated, detached, renamed, elsewhere, unknown, attach_failed); 0 with \
             reason=\"filtered\" where it is",
            None,
            MetricType::Gauge,
        )?;
        for i in &self.interfaces {
            let labels = [
                ("interface", i.name.as_str()),
                ("reason", i.filtering.label()),
            ];
            ConstGauge::new(i64::from(!i.filtering.is_yes()))
                .encode(unfiltered.encode_family(&labels)?)?;
        }
        for name in &self.unattached {
            let labels = [("interface", name.as_str()), ("reason", "attach_failed")];
            ConstGauge::new(1i64).encode(unfiltered.encode_family(&labels)?)?;
        }
        let mut monitor = encoder.encode_descriptor(
            "fwxdp_monitor",
            "1 where the interface is in monitor mode (drops are counted, not done)",
            None,
            MetricType::Gauge,
        )?;
        for i in &self.interfaces {
            let labels = [("interface", i.name.as_str())];
            ConstGauge::new(i64::from(i.monitor)).encode(monitor.encode_family(&labels)?)?;
        }
        let mut allowed = encoder.encode_descriptor(
            "fwxdp_allowed_ports",
            "Ports open to every source, per interface and protocol",
            None,
            MetricType::Gauge,
        )?;
        for i in &self.interfaces {
            for (proto, count) in [("tcp", i.open_tcp), ("udp", i.open_udp)] {
                let labels = [("interface", i.name.as_str()), ("proto", proto)];
                ConstGauge::new(i64::from(count)).encode(allowed.encode_family(&labels)?)?;
            }
        }
        ConstGauge::new(i64::try_from(self.errors).unwrap_or(i64::MAX)).encode(
            encoder.encode_descriptor(
                "fwxdp_scrape_errors",
                "Attached interfaces whose state this scrape could not read",
                None,
                MetricType::Gauge,
            )?,
        )?;
        let build = encoder.encode_descriptor(
            "fwxdp_build_info",
            "The fwxdp build serving these metrics",
            None,
            MetricType::Gauge,
        )?;
        let labels = [
            ("version", env!("CARGO_PKG_VERSION")),
            ("bpf", crate::attach::OBJECT_DIGEST),
        ];
        let mut build = build;
        ConstGauge::new(1i64).encode(build.encode_family(&labels)?)?;
        Ok(())
    }
}

impl Scrape {
    /// What the drop log left out, per interface.
    fn encode_log(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in [
            (
                "fwxdp_log_suppressed",
                "Drops the drop log left out because its rate per CPU was spent",
                (|i: &Interface| i.log_suppressed) as fn(&_) -> u64,
            ),
            (
                "fwxdp_log_lost",
                "Drops the drop log left out because its ring buffer was full (no reader \
                 kept up)",
                |i: &Interface| i.log_lost,
            ),
        ] {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for i in &self.interfaces {
                let labels = [("interface", i.name.as_str())];
                ConstCounter::new(value(i)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// The exposition text of `interfaces`, and of `errors` interfaces that could not be read.
pub(crate) fn text(
    interfaces: Vec<Interface>,
    unattached: &[String],
    errors: usize,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        interfaces,
        unattached: unattached.to_vec(),
        errors,
    }));
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &registry)?;
    Ok(body)
}
