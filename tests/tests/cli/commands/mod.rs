//! The command line: exit codes, error messages, and state that is never half-applied.

mod arguments;
mod environment;
mod pins;

use std::process::Output;

use fwxdp_tests::lab::Lab;

pub(super) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

pub(super) fn allow_list(lab: &Lab) -> serde_json::Value {
    lab.status_json()["interfaces"][0]["allow"].clone()
}
