//! The bpf(2) calls aya does not wrap, each behind one small function.

use std::{
    io,
    os::fd::{AsRawFd as _, BorrowedFd},
};

use aya_obj::generated::{bpf_attr, bpf_cmd};

/// The batch cursor of a hash map: opaque to userspace, a bucket index to the kernel. For an
/// array it is the last index read.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct BatchToken([u8; 8]);

impl BatchToken {
    /// Continues an array's batch after `index`.
    pub(crate) fn after_index(index: u32) -> Self {
        let mut token = [0; 8];
        token[..4].copy_from_slice(&index.to_ne_bytes());
        Self(token)
    }
}

/// Writes `count` entries into the map `fd` in one call: `keys` and `values` hold them
/// packed, `key_size` and `value_size` bytes each (a map that is not per-CPU).
///
/// # Safety
/// `key_size` and `value_size` must be those of the map behind `fd`, and `keys` and
/// `values` must hold `count` of them.
///
/// # Errors
/// The kernel's error; `EINVAL` or `ENOTSUPP` when the map type cannot be written in
/// batches.
pub(crate) unsafe fn update_batch(
    fd: BorrowedFd<'_>,
    keys: &[u8],
    values: &[u8],
    count: u32,
) -> io::Result<()> {
    // SAFETY: bpf_attr is a union of plain integers: all-zero is valid, and what the kernel
    // expects in every field this command does not use.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.batch.map_fd =
        u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    attr.batch.keys = keys.as_ptr() as u64;
    attr.batch.values = values.as_ptr() as u64;
    attr.batch.count = count;
    // SAFETY: the kernel reads `count` entries of the map's sizes (the caller's promise)
    // from buffers that outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_MAP_UPDATE_BATCH as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    Err(io::Error::last_os_error())
}

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

/// Opens the BPF object pinned at `path` (the kernel's `BPF_OBJ_GET`).
pub(crate) fn obj_get(path: &std::path::Path) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::{fd::FromRawFd as _, unix::ffi::OsStrExt as _};
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: bpf_attr is a union of plain integers: all-zero is valid, and what the kernel
    // expects in every field this command does not use.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.__bindgen_anon_4.pathname = path.as_ptr() as u64;
    // SAFETY: the path is a NUL-terminated string that outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

/// The kind of a network BPF link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkKind {
    Xdp,
    Tcx,
}

/// What a network BPF link is attached to, as the kernel has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LinkTarget {
    pub(crate) kind: LinkKind,
    /// 0 once the kernel detached it (its interface was deleted).
    pub(crate) ifindex: u32,
    pub(crate) program_id: u32,
}

/// The interface index an XDP or TCX link is attached to (an index in the namespace of its
/// device, which need not be the caller's), and the program it runs.
///
/// # Errors
/// The kernel's error; `EINVAL` when `fd` is a link of another kind.
pub(crate) fn link_target(fd: BorrowedFd<'_>) -> io::Result<LinkTarget> {
    use aya_obj::generated::{bpf_link_info, bpf_link_type};
    // SAFETY: bpf_link_info is plain integers and unions of them: all-zero is valid.
    let mut info: bpf_link_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above, for bpf_attr.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.info.bpf_fd =
        u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    attr.info.info_len = u32::try_from(size_of::<bpf_link_info>()).unwrap_or(u32::MAX);
    attr.info.info = (&raw mut info) as u64;
    // SAFETY: the kernel writes at most `info_len` bytes into `info`, which outlives the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET_INFO_BY_FD as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let program_id = info.prog_id;
    // SAFETY: the kernel filled the union member of the link's type, read for that type.
    let (kind, ifindex) = unsafe {
        match info.type_ {
            t if t == bpf_link_type::BPF_LINK_TYPE_XDP as u32 => {
                (LinkKind::Xdp, info.__bindgen_anon_1.xdp.ifindex)
            }
            t if t == bpf_link_type::BPF_LINK_TYPE_TCX as u32 => {
                (LinkKind::Tcx, info.__bindgen_anon_1.tcx.ifindex)
            }
            _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
    };
    Ok(LinkTarget {
        kind,
        ifindex,
        program_id,
    })
}

/// Reads the value at `key` of the map `fd` into `value` (`BPF_MAP_LOOKUP_ELEM` on raw
/// bytes: for maps of a layout this build has no type for).
///
/// # Safety
/// `key` and `value` must be the map's key and value sizes: the kernel reads and writes the
/// map's own.
///
/// # Errors
/// The kernel's error.
pub(crate) unsafe fn lookup_raw(
    fd: BorrowedFd<'_>,
    key: &[u8],
    value: &mut [u8],
) -> io::Result<()> {
    // SAFETY: bpf_attr is a union of plain integers: all-zero is valid, and what the kernel
    // expects in every field this command does not use.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.__bindgen_anon_2.map_fd =
        u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    attr.__bindgen_anon_2.key = key.as_ptr() as u64;
    attr.__bindgen_anon_2.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    // SAFETY: the kernel reads a key and writes a value of the map's sizes, which the
    // buffers are (the caller's promise).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_MAP_LOOKUP_ELEM as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    Err(io::Error::last_os_error())
}

/// Makes the BPF link `link` run the program `program` instead of the one it runs, in one
/// step of the kernel's (`BPF_LINK_UPDATE`): an XDP link or a TCX link never lets a packet
/// through unjudged while it changes programs.
///
/// # Errors
/// The kernel's error; `ENOLINK` once the link was detached (its interface was deleted).
pub(crate) fn link_update(link: BorrowedFd<'_>, program: BorrowedFd<'_>) -> io::Result<()> {
    let fd = |fd: BorrowedFd<'_>| {
        u32::try_from(fd.as_raw_fd()).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))
    };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.link_update.link_fd = fd(link)?;
    attr.link_update.__bindgen_anon_1.new_prog_fd = fd(program)?;
    // SAFETY: the kernel reads two descriptors, which outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_LINK_UPDATE as libc::c_long,
            &raw mut attr,
            size_of::<bpf_attr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    Err(io::Error::last_os_error())
}
