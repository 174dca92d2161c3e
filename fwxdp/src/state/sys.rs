//! The bpf(2) calls aya does not wrap, each behind one small function.

use std::{
    io,
    os::fd::{AsRawFd as _, BorrowedFd},
};

use aya_obj::generated::{bpf_attr, bpf_cmd};

/// The batch cursor of a hash map: opaque to userspace, a bucket index to the kernel.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BatchToken([u8; 8]);

/// Reads as many entries of the map `fd` as `keys` and `values` hold, starting after `from`
/// (or at the beginning): `key_size` bytes a key, `value_stride` bytes a value (for a per-CPU
/// map, the value size rounded up to 8, times the possible CPUs). Returns how many were
/// read, and the token to continue from, or `None` when the map has been read to its end.
///
/// # Safety
/// `key_size` and `value_stride` must be those of the map behind `fd`: the kernel writes
/// entries of the map's own sizes.
///
/// # Errors
/// The kernel's error; `EINVAL` or `ENOTSUPP` when the map type cannot be read in batches.
pub(crate) unsafe fn lookup_batch(
    fd: BorrowedFd<'_>,
    from: Option<BatchToken>,
    keys: &mut [u8],
    key_size: usize,
    values: &mut [u8],
    value_stride: usize,
) -> io::Result<(u32, Option<BatchToken>)> {
    let entries = (keys.len() / key_size.max(1)).min(values.len() / value_stride.max(1));
    let count = u32::try_from(entries).unwrap_or(u32::MAX);
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
    // SAFETY: `count` entries of the map's sizes (the caller's promise) fit in `keys` and
    // `values`, which outlive the call; the token buffers are 8 bytes, more than a hash
    // map's 4-byte bucket cursor.
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
