//! `cargo xtask fuzz [--frames N] [--seed S]`: the differential fuzz of the verdict. Random
//! frames, and mutations of frames like those the test suites build (flags, lengths, header
//! chains, fragments, tags, protocols), run through the loaded XDP program with `TestRun`
//! (and a sample through the TC program) and through the reference model
//! (`fwxdp_tests::model`), under several policies. Every disagreement is printed with the
//! frame in hex, enough to replay it (`--replay HEX --policy N`).
#![expect(
    unused_crate_dependencies,
    reason = "one package serves the test binaries and these tools; each needs only part of it"
)]

mod args;
mod case;
mod corpus;
mod flows;
mod mutate;
mod rng;

use std::{process::ExitCode, time::Instant};

use fwxdp_common::Reason;
use fwxdp_tests::{
    lab::{Lab, services},
    model::Decision,
    verdict::frames::hex,
};

use crate::{
    args::{Args, args},
    case::{Case, LISTENERS, POLICIES},
    corpus::corpus,
    mutate::frame,
    rng::Rng,
};

/// `frame` from its IP header on (after the Ethernet header and any VLAN tags); a frame too
/// short for that stays as it is, random bytes to judge.
fn ip_part(frame: &[u8]) -> Vec<u8> {
    let mut at = 12;
    while frame
        .get(at..at + 2)
        .is_some_and(|t| t == [0x81, 0x00] || t == [0x88, 0xa8])
    {
        at += 4;
    }
    frame
        .get(at + 2..)
        .map_or_else(|| frame.to_vec(), <[u8]>::to_vec)
}

fn report(case: &Case, n: u64, frame: &[u8], why: &str) {
    println!(
        "DISAGREE policy {} ({:?}){} frame #{n}: {why}\n  --replay {} --policy {}{}",
        case.index,
        POLICIES[case.index],
        if case.world.ip_frames {
            " on an IP device"
        } else {
            ""
        },
        hex(frame),
        case.index,
        if case.world.ip_frames {
            " --ip-frames"
        } else {
            ""
        }
    );
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fwxdp-fuzz: {e}");
            return ExitCode::from(2);
        }
    };
    let lab = Lab::new();
    let _listeners: Vec<_> = LISTENERS
        .iter()
        .map(|&port| services::tcp(&lab.server, port))
        .collect();
    lab.server.within(|| run(&args))
}

fn run(args: &Args) -> ExitCode {
    if let Some((frame, policy)) = &args.replay {
        let mut case = Case::new(*policy, args.ip_frames);
        let decision: Decision = case.world.judge(frame, 0);
        println!("model: {decision:?}");
        return match case.check(frame, true, true) {
            Ok(_) => {
                println!("program agrees");
                ExitCode::SUCCESS
            }
            Err(why) => {
                println!("{why}");
                ExitCode::FAILURE
            }
        };
    }
    let corpus = corpus();
    // Every policy on an Ethernet device, and one on a device without a link layer, whose
    // frames are the same with the Ethernet header (and tags) cut off.
    let mut cases: Vec<Case> = (0..POLICIES.len()).map(|i| Case::new(i, false)).collect();
    cases.push(Case::new(1, true));
    let mut rng = Rng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let started = Instant::now();
    let (mut disagreements, mut drops, mut refused) = (0u64, 0u64, 0u64);
    let mut reasons = [0u64; fwxdp_common::REASON_COUNT as usize];
    for n in 0..args.frames {
        // Flows admit replies for two minutes after the host's last packet: send again, as
        // a host in a conversation does, long before that.
        if n % (1 << 18) == 0 && n > 0 {
            cases.iter_mut().for_each(Case::refresh_flows);
        }
        let mut frame = frame(&mut rng, &corpus);
        let case = &mut cases[usize::try_from(n).unwrap_or(0) % (POLICIES.len() + 1)];
        if case.world.ip_frames {
            frame = ip_part(&frame);
        }
        let model = case.world.judge(&frame, 0);
        drops += u64::from(model.drop);
        reasons[model.reason as usize] += 1;
        // A full comparison reads every counter: often at first, then more rarely, as the
        // per-port table fills with the ports random frames hit.
        let full = n % if n < 100_000 { 64 } else { 1024 } == 0;
        match case.check(&frame, full, n % 8 == 0) {
            Ok(tc_refused) => refused += u64::from(tc_refused),
            Err(why) => {
                disagreements += 1;
                if disagreements <= 20 {
                    report(case, n, &frame, &why);
                }
            }
        }
    }
    let took = started.elapsed();
    println!(
        "fuzz: {} frames (seed {}) under {} policies, and one on a device without a link \
         layer, in {:.1} s: {disagreements} disagreements (an abort counts as one); {drops} \
         dropped",
        args.frames,
        args.seed,
        POLICIES.len(),
        took.as_secs_f64()
    );
    let spread: Vec<String> = Reason::ALL
        .iter()
        .map(|r| format!("{} {}", r.name(), reasons[*r as usize]))
        .collect();
    println!("  verdicts: {}", spread.join(", "));
    println!(
        "  every 64th frame (1024th after the first 100,000) compared by reason and charge \
         too, every 8th through TC as well ({refused} of those refused by the kernel's test \
         harness for TC)"
    );
    if disagreements == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
