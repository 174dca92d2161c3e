//! Network interfaces by name, in the caller's network namespace.

use nix::{ifaddrs::getifaddrs, net::if_::InterfaceFlags};

#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    #[error("{name:?} is not a valid interface name")]
    BadName { name: String },
    #[error("interface {name} does not exist")]
    UnknownInterface { name: String },
    #[error("interface {name} is a loopback interface, which fwxdp never filters")]
    Loopback { name: String },
    #[error("cannot list interfaces")]
    List { source: nix::Error },
}

/// Linux limits names to 15 bytes; a '/' or a dot name would escape the pin directory.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < libc::IFNAMSIZ
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// Checks that `name` can be an interface name (and so a pin directory name).
pub fn check_name(name: &str) -> Result<(), IfaceError> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(IfaceError::BadName {
            name: name.to_owned(),
        })
    }
}

/// The index of `name`, refusing loopback interfaces.
pub fn filterable_index(name: &str) -> Result<u32, IfaceError> {
    check_name(name)?;
    let index = nix::net::if_::if_nametoindex(name).map_err(|_| IfaceError::UnknownInterface {
        name: name.to_owned(),
    })?;
    let loopback = getifaddrs()
        .map_err(|source| IfaceError::List { source })?
        .any(|a| a.interface_name == name && a.flags.contains(InterfaceFlags::IFF_LOOPBACK));
    if loopback || name == "lo" {
        return Err(IfaceError::Loopback {
            name: name.to_owned(),
        });
    }
    Ok(index)
}

/// The index of `name` if it exists now.
#[must_use]
pub fn index(name: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_names_that_escape_the_pin_dir() {
        for bad in ["", ".", "..", "a:b", "a/b", "a b", "sixteen-chars-xx"] {
            assert!(
                matches!(filterable_index(bad), Err(IfaceError::BadName { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_loopback() {
        assert!(matches!(
            filterable_index("lo"),
            Err(IfaceError::Loopback { .. })
        ));
    }
}
