//! What `vmtest` and `vmboot` share: where their images come from, and qemu with its serial
//! console read line by line.

pub(crate) mod debian;
pub(crate) mod qemu;
