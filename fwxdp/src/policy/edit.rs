//! Edits of a running policy (`fwxdp allow`, `fwxdp revoke`): items added to it or taken
//! out of it, validated as a whole policy is.
//!
//! An edit works on what the policy enforces, so an item takes out exactly what the same
//! item would put in: `revoke 8050` leaves `8000-8049` and `8051-8100` of a range, `revoke
//! 5432@10.0.0.0/8` removes that network and no other, and `revoke 22/tcp=4/60s` closes a
//! limited port (its limit with it). A port open to everyone holds no source networks (they
//! add nothing there), so revoking it closes it to all.

use super::{
    Policy, PolicyError,
    limit::{self, LimitError, LimitRule},
    spec::{self, AllowItem, SpecError},
};

/// Allow items and limit items, as `allow` and `revoke` take them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edit {
    pub items: Vec<AllowItem>,
    pub limits: Vec<LimitRule>,
}

/// One item of an edit, as written, and whether it is a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum One {
    Allow(AllowItem),
    Limit(LimitRule),
}

impl Edit {
    /// Parses lists of items (each comma-separated); an item with `=` is a limit. Every bad
    /// item is reported.
    ///
    /// # Errors
    /// The bad items, allow and limit items alike.
    pub fn parse<S: AsRef<str>>(lists: &[S]) -> Result<Self, PolicyError> {
        let mut edit = Self::default();
        let (mut bad_items, mut bad_limits): (Vec<SpecError>, Vec<LimitError>) = Default::default();
        for list in lists {
            let list = list.as_ref();
            for item in list.split(',') {
                match parse_one(item.trim(), list) {
                    Ok(One::Allow(item)) => edit.items.push(item),
                    Ok(One::Limit(rule)) => edit.limits.push(rule),
                    Err(Err(e)) => bad_limits.push(e),
                    Err(Ok(e)) => bad_items.push(e),
                }
            }
        }
        if !bad_items.is_empty() {
            return Err(PolicyError::Spec(bad_items));
        }
        if !bad_limits.is_empty() {
            return Err(PolicyError::Limit(bad_limits));
        }
        Ok(edit)
    }

    /// Each item on its own, in the order given, with its canonical text.
    #[must_use]
    pub fn each(&self) -> Vec<(String, Self)> {
        let items = self.items.iter().map(|&item| {
            (
                item.to_string(),
                Self {
                    items: vec![item],
                    limits: Vec::new(),
                },
            )
        });
        let limits = self.limits.iter().map(|&rule| {
            (
                rule.to_string(),
                Self {
                    items: Vec::new(),
                    limits: vec![rule],
                },
            )
        });
        items.chain(limits).collect()
    }
}

/// One item: an allow item, or a limit when it has `=`. The error says which grammar
/// refused it (`Ok` for the allow grammar).
fn parse_one(item: &str, list: &str) -> Result<One, Result<SpecError, LimitError>> {
    if item.contains('=') {
        limit::parse_item(item).map(One::Limit).map_err(Err)
    } else {
        spec::parse_item(item, list).map(One::Allow).map_err(Ok)
    }
}

impl Policy {
    /// This policy with `edit`'s items added; a limit replaces one the port already has.
    ///
    /// # Errors
    /// When the result is over a bound of a policy (source networks, limited ports).
    pub fn with_edit(&self, edit: &Edit) -> Result<Self, PolicyError> {
        let mut items: Vec<AllowItem> = self
            .to_specs()
            .iter()
            .map(|text| spec::parse_item(text, text))
            .collect::<Result<_, _>>()
            .map_err(|e| PolicyError::Spec(vec![e]))?;
        items.extend(edit.items.iter().copied());
        let mut limits: Vec<LimitRule> = self
            .limit_specs()
            .iter()
            .map(|text| limit::parse_item(text))
            .collect::<Result<_, _>>()
            .map_err(|e| PolicyError::Limit(vec![e]))?;
        limits.extend(edit.limits.iter().copied());
        Self::from_rules(&items)?.with_limits(&limits)
    }

    /// This policy with `edit`'s items taken out (see the module's documentation).
    #[must_use]
    pub fn without(&self, edit: &Edit) -> Self {
        let mut policy = self.clone();
        for item in &edit.items {
            match *item {
                AllowItem::Ports(rule) => {
                    for proto in rule.protos() {
                        for port in rule.first..=rule.last {
                            match rule.source {
                                None => {
                                    policy.open[usize::from(port)] &= !proto.allow_flag();
                                    policy.limits.remove(&(proto, port));
                                }
                                Some(net) => {
                                    policy.cidrs.remove(&(proto, port, net));
                                }
                            }
                        }
                    }
                }
                AllowItem::Protocol(rule) => match rule.source {
                    None => {
                        policy.protocols.remove(&rule.number);
                    }
                    Some(net) => {
                        policy.protocol_cidrs.remove(&(rule.number, net));
                    }
                },
            }
        }
        for rule in &edit.limits {
            for port in rule.first..=rule.last {
                if policy.limits.remove(&(rule.proto, port)).is_some() {
                    policy.open[usize::from(port)] &= !rule.proto.allow_flag();
                }
            }
        }
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &str, limits: &[&str]) -> Policy {
        Policy::parse_with_limits(&[allow], limits).unwrap()
    }

    fn edit(items: &str) -> Edit {
        Edit::parse(&[items]).unwrap()
    }

    fn specs(policy: &Policy) -> (Vec<String>, Vec<String>) {
        (policy.to_specs(), policy.limit_specs())
    }

    #[test]
    fn allow_adds_every_kind_of_item() {
        let running = policy("22,80,443", &[]);
        let edited = running
            .with_edit(&edit(
                "8000/tcp,9000-9010/udp,5432@10.0.0.0/8,ip:gre@203.0.113.0/24,2222/tcp=4/60s",
            ))
            .unwrap();
        assert_eq!(
            edited,
            policy(
                "22,80,443,8000/tcp,9000-9010/udp,5432@10.0.0.0/8,ip:gre@203.0.113.0/24",
                &["2222/tcp=4/60s"]
            )
        );
    }

    #[test]
    fn allow_of_what_is_there_changes_nothing_and_a_new_limit_replaces_the_old() {
        let running = policy("22,80", &["22/tcp=4/60s"]);
        assert_eq!(running.with_edit(&edit("80/tcp")).unwrap(), running);
        let relimited = running.with_edit(&edit("22/tcp=10/1m")).unwrap();
        assert_eq!(specs(&relimited).1, ["22/tcp=10/1m"]);
    }

    #[test]
    fn revoke_takes_out_exactly_what_the_item_names() {
        let running = policy(
            "22,8000-8100/tcp,5432@10.0.0.0/8,5432@192.168.0.0/16,ip:esp,ip:gre@203.0.113.0/24",
            &["2222/tcp=4/60s"],
        );
        let edited = running.without(&edit(
            "8050/tcp,5432/tcp@10.0.0.0/8,ip:esp,ip:gre@203.0.113.0/24,2222/tcp=1/1s",
        ));
        assert_eq!(
            edited,
            policy(
                "22,8000-8049/tcp,8051-8100/tcp,5432/udp@10.0.0.0/8,5432@192.168.0.0/16",
                &[]
            )
        );
    }

    #[test]
    fn revoking_a_port_for_both_protocols_closes_a_limited_one_too() {
        let running = policy("80", &["22/tcp=4/60s"]);
        let edited = running.without(&edit("22,80/udp"));
        assert_eq!(specs(&edited), (vec!["80/tcp".to_owned()], Vec::new()));
    }

    #[test]
    fn revoke_of_what_is_not_there_changes_nothing() {
        let running = policy("22,443/tcp,5432@10.0.0.0/8", &[]);
        for item in [
            "80",
            "443/udp",
            "5432@10.1.0.0/16",
            "ip:gre",
            "22/tcp=4/60s",
        ] {
            assert_eq!(running.without(&edit(item)), running, "{item}");
        }
    }

    #[test]
    fn parse_reports_every_bad_item() {
        let Err(PolicyError::Spec(bad)) = Edit::parse(&["22,eth0", "99999/tcp"]) else {
            panic!("bad items accepted");
        };
        assert_eq!(bad.len(), 2);
        assert!(matches!(
            Edit::parse(&["22/tcp=99/1s"]),
            Err(PolicyError::Limit(_))
        ));
    }

    #[test]
    fn each_splits_an_edit_into_its_items() {
        let all = edit("22,ip:esp,2222/tcp=4/60s");
        let texts: Vec<String> = all.each().into_iter().map(|(text, _)| text).collect();
        assert_eq!(texts, ["22", "ip:esp", "2222/tcp=4/1m"]);
    }
}
