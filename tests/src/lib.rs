//! The privileged end-to-end suite's support code: the network-namespace lab, and
//! synthetic frames.

#![expect(
    clippy::missing_panics_doc,
    reason = "test support fails by panicking, that is how a test reports it"
)]

pub mod bare;
pub mod lab;
pub mod model;
pub mod packet;
pub mod verdict;

/// Keeps the calling thread on the CPU it runs on, for the rest of its life: the drop log's
/// bound is per CPU, and both `TestRun` and a veth deliver on the sender's CPU.
pub fn pin_to_this_cpu() {
    let mut cpus = nix::sched::CpuSet::new();
    let cpu = nix::sched::sched_getcpu().expect("this CPU");
    cpus.set(cpu).expect("a CPU set");
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &cpus).expect("pin the thread");
}
