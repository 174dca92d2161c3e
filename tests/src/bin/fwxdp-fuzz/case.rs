//! One policy's world and loaded program, and the comparison of their verdicts on a frame.

use aya::programs::ProgramError;
use fwxdp_common::{CONFIG_IP_FRAMES, Config, program_name};
use fwxdp_tests::{
    model::World,
    verdict::{
        Filter,
        outcome::{Action, TC_ACT_SHOT, TC_ACT_UNSPEC, XDP_ABORTED, XDP_DROP, XDP_PASS},
    },
};

use crate::flows::outbound;

/// The policies every frame is judged under.
pub(crate) const POLICIES: &[&str] = &[
    "22",
    "80,443,8000-8100/tcp,53/udp,5432@10.0.0.0/8,22@2001:db8::/32,ip:gre,ip:4@192.0.2.0/24",
    "5000/sctp,5300/udplite,6000-6010/dccp@192.0.2.0/24,ip:esp,ip:gre@203.0.113.0/24,ip:253",
    "1-65535,ip:4,ip:41",
    "1-1024/udp@::/0,3306/tcp@10.1.0.0/16,ip:vrrp@10.0.0.0/8,ip:ipv6@2001:db8::/32",
];

/// TCP ports with a listener in the namespace `TestRun` runs in.
pub(crate) const LISTENERS: [u16; 3] = [3306, 5432, 9];

/// One policy's world and loaded program.
pub(crate) struct Case {
    pub(crate) index: usize,
    pub(crate) world: World,
    pub(crate) filter: Filter,
}

impl Case {
    /// Policy `index`; with `ip_frames`, as on a device without a link layer.
    pub(crate) fn new(index: usize, ip_frames: bool) -> Self {
        let config = Config {
            flags: if ip_frames { CONFIG_IP_FRAMES } else { 0 },
            ..Config::default()
        };
        let mut filter = Filter::with_config(POLICIES[index], &config);
        let mut world = World::new(POLICIES[index]);
        world.ip_frames = ip_frames;
        if !ip_frames {
            world.flows = outbound(&mut filter);
        }
        world.listeners = LISTENERS.into_iter().collect();
        Self {
            index,
            world,
            filter,
        }
    }

    pub(crate) fn refresh_flows(&mut self) {
        if self.world.ip_frames {
            return;
        }
        let flows = outbound(&mut self.filter);
        assert_eq!(flows, self.world.flows, "the same flows are recorded again");
    }

    /// Judges `frame` both ways; `full` also compares the reason and what was charged.
    /// Returns whether the kernel's test harness refused the frame for TC (IP frames too
    /// short for an IP header: the receive path hands them to the program, `TestRun` cannot).
    pub(crate) fn check(&mut self, frame: &[u8], full: bool, tc: bool) -> Result<bool, String> {
        // XDP's `TestRun` refuses frames shorter than an Ethernet header.
        if frame.len() < 14 {
            return Ok(false);
        }
        let model = self.world.judge(frame, 0);
        let want = if model.drop { XDP_DROP } else { XDP_PASS };
        if full {
            let got = self.filter.judge("fuzz", frame);
            let action = if model.drop {
                Action::Drop
            } else {
                Action::Pass
            };
            // A port drop beyond the per-port table is charged to its protocol's overflow.
            let port = if got.overflowed {
                model.port.map(|(proto, _)| (proto, 0))
            } else {
                model.port
            };
            let expected = (action, model.reason, port, model.protocol);
            if expected != (got.action, got.reason, got.port, got.protocol) {
                return Err(format!("model {model:?}, program {got:?}"));
            }
        } else {
            match self.filter.run_xdp(frame) {
                Ok(XDP_ABORTED) => return Err("the program aborted".to_owned()),
                Ok(value) if value == want => {}
                Ok(value) => return Err(format!("model {model:?}, program returned {value}")),
                Err(e) => return Err(format!("test run: {e}")),
            }
        }
        if tc {
            let want = if model.drop {
                TC_ACT_SHOT
            } else {
                TC_ACT_UNSPEC
            };
            match self.filter.try_run_tc(program_name::TC_INGRESS, frame) {
                Ok(got) if got == want => {}
                Ok(got) => return Err(format!("model {model:?}, TC program returned {got}")),
                Err(ProgramError::SyscallError(e))
                    if e.io_error.raw_os_error() == Some(libc::EINVAL) =>
                {
                    return Ok(true);
                }
                Err(e) => return Err(format!("TC test run: {e:?}")),
            }
        }
        Ok(false)
    }
}
