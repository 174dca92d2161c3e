//! The bpf(2) calls aya does not wrap, each behind one small function.

use std::{
    io,
    os::fd::{AsRawFd as _, BorrowedFd},
};

use aya_obj::generated::{bpf_attr, bpf_cmd};

/// The batch cursor of a hash map: opaque to userspace, a bucket index to the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BatchToken([u8; 8]);

/// Reads up to `keys.len() / key_size` entries of the map `fd`, starting after `from` (or at
/// the beginning), into `keys` and `values`. Returns how many were read, and the token to
/// continue from, or `None` when the map has been read to its end.
///
/// # Errors
/// The kernel's error; `EINVAL` or `ENOTSUPP` when the map type cannot be read in batches.
pub(crate) fn lookup_batch(
    fd: BorrowedFd<'_>,
    from: Option<BatchToken>,
    keys: &mut [u8],
    values: &mut [u8],
    count: u32,
) -> io::Result<(u32, Option<BatchToken>)> {
    let mut next = BatchToken::default();
    // SAFETY: bpf_attr is a union of plain integers: all-zero is valid, and what the kernel
    // expects in every field this command does not use.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // NULL starts at the beginning.
    attr.batch.in_batch = from.as_ref().map_or(0, |token| token.0.as_ptr() as u64);
    attr.batch.out_batch = next.0.as_mut_ptr() as u64;
    attr.batch.map_fd =
        u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    attr.batch.keys = keys.as_mut_ptr() as u64;
    attr.batch.values = values.as_mut_ptr() as u64;
    attr.batch.count = count;
    // SAFETY: `attr` points at live buffers sized by the caller for `count` entries.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_MAP_LOOKUP_BATCH as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    // SAFETY: the kernel wrote the count back into the batch member.
    let read = unsafe { attr.batch.count };
    if rc == 0 {
        return Ok((read, Some(next)));
    }
    let error = io::Error::last_os_error();
    // ENOENT: the last entries (possibly none) were read.
    if error.raw_os_error() == Some(libc::ENOENT) {
        Ok((read, None))
    } else {
        Err(error)
    }
}
