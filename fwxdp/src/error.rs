//! Errors as people read them: the error and every cause, on one line.

/// `error` and its sources, `: `-separated (the shape of anyhow's `{:#}`), for the terminal
/// and for one log line.
#[must_use]
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io;

    #[derive(Debug, thiserror::Error)]
    #[error("attach eth0")]
    struct Outer(#[source] io::Error);

    #[test]
    fn joins_every_cause() {
        let error = Outer(io::Error::other("no such device"));
        assert_eq!(super::chain(&error), "attach eth0: no such device");
    }
}
