//! fwxdp killed at any system call of `attach`, a replacement, a mode switch or `detach`
//! (strace's fault injection: SIGKILL on the Nth call of a kind) never leaves a filter that
//! `status` does not show, and the next command never opens a window: raw SYNs to a
//! protected port stream through the killed command and the one after it, and the server
//! must answer none of them while a filter was in force.

use std::{path::Path, process::Output};

use fwxdp_tests::lab::{Lab, SERVER_IF, next_layout_bin, services, watch};

/// The protected port the raw SYNs go to (a listener answers it when nothing filters).
const PROTECTED: u16 = 8001;

/// System calls fwxdp's state changes go through, as strace names them.
const CALLS: [&str; 4] = [
    "bpf",
    "rename,renameat,renameat2",
    "unlink,unlinkat,rmdir",
    "mkdir,mkdirat",
];

/// The most calls of one kind tried; an attach makes about sixty bpf(2) calls.
const MAX_CALLS: u32 = 150;

/// Runs `args`, killed at the `n`th call of `calls`. `None` when fwxdp made fewer calls
/// than that and finished; otherwise its output.
fn killed_at(lab: &Lab, args: &[&str], calls: &str, n: u32) -> Option<Output> {
    let inject = format!("inject={calls}:signal=KILL:when={n}");
    let out = lab
        .fwxdp_wrapped(&["strace", "-f", "-qq", "-o", "/dev/null", "-e", &inject])
        .args(args)
        .output()
        .expect("run strace");
    // strace ends as its tracee did: by SIGKILL, or with 128 + 9.
    let killed = out.status.code().is_none_or(|code| code == 137);
    if killed {
        return Some(out);
    }
    assert!(
        out.status.success(),
        "{args:?} failed without being killed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    None
}

/// After `detach --all`, nothing of fwxdp's is left on the interface: no XDP program, no
/// TCX program, no `cls_bpf` filter (a leaked one would filter with nobody to show it).
fn assert_no_filters_left(lab: &Lab) {
    let link = lab
        .server
        .run(&["ip", "-d", "link", "show", "dev", SERVER_IF]);
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(!link.contains("prog/xdp"), "an XDP program is left: {link}");
    for direction in ["ingress", "egress"] {
        let out = lab
            .server
            .command("tc")
            .args(["filter", "show", "dev", SERVER_IF, direction])
            .output()
            .expect("run tc");
        let filters = String::from_utf8_lossy(&out.stdout);
        assert!(
            !filters.contains("fwxdp"),
            "a {direction} filter is left: {filters}"
        );
    }
}

/// Whether raw SYNs to the protected port go unanswered now.
fn filtered_now(lab: &Lab) -> bool {
    let (sent, answered, ()) = watch::raw_answers_during(lab, PROTECTED, || {
        std::thread::sleep(std::time::Duration::from_millis(100));
    });
    assert!(sent > 0);
    answered == 0
}

/// Whether status lists the server interface as filtering.
fn status_says_filtering(lab: &Lab) -> bool {
    lab.status_json()["interfaces"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|i| i["interface"] == SERVER_IF && i["filtering"] == true)
}

/// For every kind of call and every n: set up with `before` (if any), run `killed` killed at
/// that call, then check: what filters is shown; `recover` runs without a window where a
/// filter was; and it leaves the interface filtered. Returns how many kills were tried.
fn every_kill(lab: &Lab, before: Option<&[&str]>, killed: &[&str], recover: &[&str]) -> u32 {
    every_kill_at(lab, &CALLS, before, killed, recover)
}

fn every_kill_at(
    lab: &Lab,
    kinds: &[&str],
    before: Option<&[&str]>,
    killed: &[&str],
    recover: &[&str],
) -> u32 {
    every_kill_between(lab, kinds, before, None, killed, recover)
}

/// [`every_kill_at`], with `before` run by the binary under test and the rest by `after`
/// when given (another build: an upgrade between the two is what gets killed).
fn every_kill_between(
    lab: &Lab,
    kinds: &[&str],
    before: Option<&[&str]>,
    after: Option<&Path>,
    killed: &[&str],
    recover: &[&str],
) -> u32 {
    let mut tried = 0;
    for &calls in kinds {
        for n in 1..=MAX_CALLS {
            lab.use_fwxdp(after.map(Path::to_owned));
            lab.fwxdp_ok(&["detach", "--all"]);
            assert_no_filters_left(lab);
            if let Some(before) = before {
                lab.use_fwxdp(None);
                lab.fwxdp_ok(before);
                lab.use_fwxdp(after.map(Path::to_owned));
            }
            let filtered_before = before.is_some();
            // The stream runs through the killed command: with a filter before it, no SYN
            // may get through at any point of it.
            let (_, answered, out) =
                watch::raw_answers_during(lab, PROTECTED, || killed_at(lab, killed, calls, n));
            let Some(_) = out else {
                break;
            };
            tried += 1;
            let at = format!("{killed:?} killed at {calls} #{n}");
            if filtered_before {
                assert_eq!(answered, 0, "{at}: the protected port answered");
            }
            let filtered = filtered_now(lab);
            if filtered {
                assert!(
                    status_says_filtering(lab),
                    "{at}: a filter is in force but status does not show it: {}",
                    lab.status_json()
                );
            }
            let (_, answered, out) =
                watch::raw_answers_during(lab, PROTECTED, || lab.fwxdp(recover));
            assert!(
                out.status.success(),
                "{at}: then {recover:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            if filtered {
                assert_eq!(answered, 0, "{at}: {recover:?} opened a window");
            }
            assert!(filtered_now(lab), "{at}: {recover:?} left it unfiltered");
            assert!(status_says_filtering(lab), "{at}: {}", lab.status_json());
        }
    }
    lab.use_fwxdp(None);
    eprintln!("{killed:?}: {tried} kills");
    tried
}

fn lab() -> (Lab, services::Service) {
    let lab = Lab::new();
    let listener = services::tcp(&lab.server, PROTECTED);
    (lab, listener)
}

const RECOVER: &[&str] = &["attach", SERVER_IF, "--allow", "22,80"];

#[test]
fn a_killed_fresh_attach_leaves_no_hidden_filter_and_the_next_opens_no_window() {
    let (lab, _listener) = lab();
    let tried = every_kill(&lab, None, &["attach", SERVER_IF, "--allow", "22"], RECOVER);
    assert!(tried > 30, "only {tried} kills");
}

#[test]
fn a_killed_replacement_never_opens_the_port() {
    let (lab, _listener) = lab();
    let before: &[&str] = &["attach", SERVER_IF, "--allow", "22"];
    let tried = every_kill(
        &lab,
        Some(before),
        &["attach", SERVER_IF, "--allow", "22,443"],
        RECOVER,
    );
    assert!(tried > 5, "only {tried} kills");
}

#[test]
fn a_killed_mode_switch_never_opens_the_port() {
    let (lab, _listener) = lab();
    let before: &[&str] = &["attach", SERVER_IF, "--allow", "22"];
    let switch = ["attach", SERVER_IF, "--allow", "22", "--mode", "tc"];
    let tried = every_kill(&lab, Some(before), &switch, RECOVER);
    assert!(tried > 10, "only {tried} kills");
    let back: &[&str] = &["attach", SERVER_IF, "--allow", "22", "--mode", "tc"];
    let generic = ["attach", SERVER_IF, "--allow", "22", "--mode", "generic"];
    let tried = every_kill(&lab, Some(back), &generic, RECOVER);
    assert!(tried > 10, "only {tried} kills");
}

#[test]
fn a_killed_detach_leaves_status_telling_the_truth() {
    let (lab, _listener) = lab();
    let before: &[&str] = &["attach", SERVER_IF, "--allow", "22"];
    let mut tried = 0;
    for calls in CALLS {
        for n in 1..=MAX_CALLS {
            lab.fwxdp_ok(&["detach", "--all"]);
            lab.fwxdp_ok(before);
            if killed_at(&lab, &["detach", SERVER_IF], calls, n).is_none() {
                break;
            }
            tried += 1;
            let at = format!("detach killed at {calls} #{n}");
            // Whatever is left, status says it: a filter in force is listed as filtering.
            if filtered_now(&lab) {
                assert!(status_says_filtering(&lab), "{at}: {}", lab.status_json());
            }
            // And detach finishes the job.
            lab.fwxdp_ok(&["detach", "--all"]);
            assert!(
                !filtered_now(&lab),
                "{at}: still filtered after detach --all"
            );
        }
    }
    eprintln!("detach: {tried} kills");
    assert!(tried > 5, "only {tried} kills");
}

#[test]
fn a_killed_attach_over_netlink_filters_leaks_no_filter_and_hides_none() {
    let (lab, _listener) = lab();
    lab.set_fwxdp_env("FWXDP_TC_MECHANISM", "clsact");
    // The netlink calls too: a kill after the kernel made a filter and before it was
    // recorded is the case to catch.
    let kinds = ["bpf", "sendto", "recvfrom", "rename,renameat,renameat2"];
    let tc: &[&str] = &["attach", SERVER_IF, "--allow", "22", "--mode", "tc"];
    let recover: &[&str] = &["attach", SERVER_IF, "--allow", "22,80", "--mode", "tc"];
    let tried = every_kill_at(&lab, &kinds, None, tc, recover);
    assert!(tried > 20, "only {tried} kills");
    // A switch from native XDP to tc makes the bridge filter first.
    let native: &[&str] = &["attach", SERVER_IF, "--allow", "22", "--mode", "native"];
    let tried = every_kill_at(&lab, &kinds, Some(native), tc, recover);
    assert!(tried > 10, "only {tried} kills");
    lab.fwxdp_ok(&["detach", "--all"]);
    assert_no_filters_left(&lab);
}

#[test]
fn a_killed_upgrade_across_pin_layouts_never_opens_the_port() {
    let (lab, _listener) = lab();
    let next = next_layout_bin();
    let before: &[&str] = &["attach", SERVER_IF, "--allow", "22"];
    let kinds = ["bpf", "rename,renameat,renameat2", "unlink,unlinkat,rmdir"];
    let tried = every_kill_between(&lab, &kinds, Some(before), Some(&next), before, RECOVER);
    assert!(tried > 30, "only {tried} kills");
    // Over netlink filters: the replacement in place is a netlink call.
    lab.set_fwxdp_env("FWXDP_TC_MECHANISM", "clsact");
    let tc: &[&str] = &["attach", SERVER_IF, "--allow", "22", "--mode", "tc"];
    let kinds = ["bpf", "sendto"];
    let tried = every_kill_between(&lab, &kinds, Some(tc), Some(&next), tc, RECOVER);
    assert!(tried > 30, "only {tried} kills");
    lab.fwxdp_ok(&["detach", "--all"]);
    assert_no_filters_left(&lab);
}
