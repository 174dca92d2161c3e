//! The command line: how many frames, the seed, or one frame to replay.

use crate::case::POLICIES;

pub(crate) struct Args {
    pub(crate) frames: u64,
    pub(crate) seed: u64,
    pub(crate) replay: Option<(Vec<u8>, usize)>,
    pub(crate) ip_frames: bool,
}

pub(crate) fn args() -> Result<Args, String> {
    let mut args = Args {
        frames: 1_000_000,
        seed: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs() | 1),
        replay: None,
        ip_frames: false,
    };
    let mut replay = None;
    let mut policy = 0;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--frames" => args.frames = value()?.parse().map_err(|e| format!("--frames: {e}"))?,
            "--seed" => args.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--replay" => replay = Some(unhex(&value()?)?),
            "--policy" => policy = value()?.parse().map_err(|e| format!("--policy: {e}"))?,
            "--ip-frames" => args.ip_frames = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if policy >= POLICIES.len() {
        return Err(format!("--policy: 0 to {}", POLICIES.len() - 1));
    }
    args.replay = replay.map(|frame| (frame, policy));
    Ok(args)
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(|| format!("--replay: bad hex at {i}"))
        })
        .collect()
}
