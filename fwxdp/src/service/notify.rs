//! Notifications to systemd, sent by a thread of their own. The notify socket is a datagram
//! socket, and a send blocks while the manager's queue is full (a manager that is busy or
//! re-executing, or a harness that stopped reading): the service must go on attaching the
//! interfaces that appear meanwhile. Messages keep their order; only the latest `STATUS=`
//! that is still waiting is sent, since each replaces the one before.

use std::{
    collections::VecDeque,
    fmt::Write as _,
    sync::{Condvar, LazyLock, Mutex, PoisonError},
    thread,
};

use sd_notify::NotifyState;
use tracing::warn;

/// Messages waiting beyond this (all of them `READY`/`RELOADING` pairs, since statuses are
/// replaced) mean the manager reads nothing: the oldest are dropped.
const MAX_WAITING: usize = 64;

/// Queues `states` as one message (formatted now, so a `MONOTONIC_USEC=` stamp is the
/// moment of the call).
pub(super) fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    let status_only = states.iter().all(|s| matches!(s, NotifyState::Status(_)));
    let mut text = String::new();
    for state in states {
        let _: std::fmt::Result = writeln!(text, "{state}");
    }
    let (queue, ready) = &*QUEUE;
    let mut waiting = queue.lock().unwrap_or_else(PoisonError::into_inner);
    enqueue(&mut waiting, Message { text, status_only });
    ready.notify_one();
}

fn enqueue(waiting: &mut VecDeque<Message>, message: Message) {
    if message.status_only {
        waiting.retain(|m| !m.status_only);
    }
    waiting.push_back(message);
    while waiting.len() > MAX_WAITING {
        waiting.pop_front();
    }
}

struct Message {
    text: String,
    status_only: bool,
}

static QUEUE: LazyLock<(Mutex<VecDeque<Message>>, Condvar)> = LazyLock::new(|| {
    let spawned = thread::Builder::new()
        .name("sd-notify".to_owned())
        .spawn(sender);
    if let Err(e) = spawned {
        warn!("cannot start the thread that notifies systemd: {e}");
    }
    (Mutex::new(VecDeque::new()), Condvar::new())
});

fn sender() {
    let (queue, ready) = &*QUEUE;
    loop {
        let message = {
            let mut waiting = queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(message) = waiting.pop_front() {
                    break message;
                }
                waiting = ready.wait(waiting).unwrap_or_else(PoisonError::into_inner);
            }
        };
        let lines: Vec<NotifyState<'_>> = message.text.lines().map(NotifyState::Custom).collect();
        if let Err(e) = sd_notify::notify(false, &lines) {
            warn!("cannot notify systemd: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> Message {
        Message {
            text: text.to_owned(),
            status_only: text.starts_with("STATUS="),
        }
    }

    fn texts(waiting: &VecDeque<Message>) -> Vec<&str> {
        waiting.iter().map(|m| m.text.as_str()).collect()
    }

    #[test]
    fn a_status_replaces_the_waiting_one_and_the_rest_keep_their_order() {
        let mut waiting = VecDeque::new();
        for text in ["STATUS=a", "RELOADING=1", "STATUS=b", "READY=1", "STATUS=c"] {
            enqueue(&mut waiting, message(text));
        }
        assert_eq!(texts(&waiting), ["RELOADING=1", "READY=1", "STATUS=c"]);
    }

    #[test]
    fn a_manager_that_reads_nothing_costs_a_bounded_queue() {
        let mut waiting = VecDeque::new();
        for i in 0..1000 {
            enqueue(&mut waiting, message(&format!("READY={i}")));
            enqueue(&mut waiting, message(&format!("STATUS={i}")));
        }
        assert_eq!(waiting.len(), MAX_WAITING);
        assert_eq!(waiting.back().map(|m| m.text.as_str()), Some("STATUS=999"));
    }
}
