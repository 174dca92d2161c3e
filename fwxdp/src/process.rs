//! This process's ancestors, read from `/proc`: where the SSH session a command runs in,
//! or the mount namespace it was started from, is found.

/// The ancestors of this process, nearest first, up to but not including PID 1. Bounded:
/// a process tree is never this deep, and a walk must end.
pub fn ancestors() -> impl Iterator<Item = u32> {
    let mut next = Some(std::os::unix::process::parent_id());
    std::iter::from_fn(move || {
        let pid = next.take().filter(|&pid| pid > 1)?;
        next = parent_of(pid);
        Some(pid)
    })
    .take(64)
}

/// The parent of `pid`, from `/proc/<pid>/stat` (the field after the command's closing ')').
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_nearest_ancestor_is_the_parent() {
        let parent = std::os::unix::process::parent_id();
        let first = super::ancestors().next();
        assert!(
            parent <= 1 || first == Some(parent),
            "{first:?} vs {parent}"
        );
        assert!(super::ancestors().count() <= 64);
    }
}
