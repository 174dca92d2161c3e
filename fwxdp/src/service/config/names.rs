//! Which interfaces an `[[interface]]` table covers: names and shell-style patterns
//! (`eth0`, `en*`, `eth[0-3]`), never a loopback interface.

use std::fmt;

/// One name or pattern of a table's `name`.
#[derive(Clone, Debug)]
pub struct NamePattern {
    text: String,
    pattern: glob::Pattern,
}

impl PartialEq for NamePattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for NamePattern {}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Linux limits names to 15 bytes; a pattern may be longer only by its brackets.
const MAX_PATTERN_BYTES: usize = 64;

impl NamePattern {
    /// Parses `text`: an interface name, or a pattern with `*`, `?` and `[...]`.
    ///
    /// # Errors
    /// What is wrong with it, as a sentence.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.len() > MAX_PATTERN_BYTES {
            return Err(format!("{text:?} is not an interface name or pattern"));
        }
        if text
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
        {
            return Err(format!(
                "{text:?}: interface names have no '/', ':' or spaces"
            ));
        }
        if !Self::has_wildcards(text) {
            crate::iface::check_name(text).map_err(|e| e.to_string())?;
            if text == "lo" {
                return Err("lo is the loopback interface, which fwxdp never filters".to_owned());
            }
        }
        let pattern = glob::Pattern::new(text).map_err(|e| format!("pattern {text:?}: {e}"))?;
        Ok(Self {
            text: text.to_owned(),
            pattern,
        })
    }

    fn has_wildcards(text: &str) -> bool {
        text.contains(['*', '?', '['])
    }

    /// Whether this is a plain name rather than a pattern.
    #[must_use]
    pub fn is_name(&self) -> bool {
        !Self::has_wildcards(&self.text)
    }

    /// Whether `name` is covered. Loopback interfaces never are; the caller knows which
    /// ones those are, and `lo` is refused here too.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        name != "lo" && self.pattern.matches(name)
    }

    /// The name or pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_patterns_match_as_a_shell_would() {
        let en = NamePattern::parse("en*").expect("pattern");
        assert!(en.matches("enp0s3") && en.matches("ens3") && !en.matches("eth0"));
        let eth = NamePattern::parse("eth[0-1]").expect("pattern");
        assert!(eth.matches("eth0") && eth.matches("eth1") && !eth.matches("eth2"));
        let exact = NamePattern::parse("eth0").expect("name");
        assert!(exact.is_name() && exact.matches("eth0") && !exact.matches("eth01"));
        assert!(!NamePattern::parse("*").expect("pattern").matches("lo"));
    }

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        for bad in [
            "",
            "a/b",
            "a b",
            "x:1",
            "sixteen-chars-xx",
            "lo",
            "[",
            "e?[",
            &"*".repeat(65),
        ] {
            assert!(NamePattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
