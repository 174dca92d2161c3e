//! Bare XDP programs, loaded with no object file, of two instructions (`r0 = ACTION; exit`):
//! one that drops every frame, the floor every benchmark row is compared with, and one that
//! sends every frame back out (`XDP_TX`), the live-frames generator of the live benchmark;
//! and a drop that first adds one to a per-CPU counter, the floor of any dropper that counts.

use std::{
    io,
    os::fd::{AsFd, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
    time::Duration,
};

use aya_obj::generated::{bpf_attach_type, bpf_attr, bpf_cmd, bpf_map_type, bpf_prog_type};

/// `BPF_F_TEST_XDP_LIVE_FRAMES`: run on real frames that an `XDP_TX` sends out.
const TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// A loaded bare program.
pub struct BareXdp {
    fd: OwnedFd,
}

fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: `attr` is a whole bpf_attr that outlives the call; each caller filled the
    // members its command reads, pointing at buffers that outlive the call too.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            std::ptr::from_mut(attr),
            size_of::<bpf_attr>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `n` as the kernel's 32-bit size or descriptor field.
fn u32_of<T: TryInto<u32>>(n: T) -> io::Result<u32> {
    n.try_into()
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn owned(fd: i64) -> io::Result<OwnedFd> {
    let fd = i32::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this descriptor, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl BareXdp {
    /// The program that drops every frame.
    ///
    /// # Errors
    /// The kernel's.
    pub fn drop_all() -> io::Result<Self> {
        Self::load(1)
    }

    /// The program that sends every frame back out of the interface it came in on.
    ///
    /// # Errors
    /// The kernel's.
    pub fn transmit_all() -> io::Result<Self> {
        Self::load(3)
    }

    /// The program that adds one to a per-CPU counter (a one-entry per-CPU array of its own)
    /// and drops the frame.
    ///
    /// # Errors
    /// The kernel's.
    pub fn count_and_drop() -> io::Result<Self> {
        // SAFETY: bpf_attr is a union of plain integers: all-zero is valid.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.__bindgen_anon_1.map_type = bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32;
        attr.__bindgen_anon_1.key_size = 4;
        attr.__bindgen_anon_1.value_size = 8;
        attr.__bindgen_anon_1.max_entries = 1;
        // The program holds the map once loaded.
        let map = owned(bpf(bpf_cmd::BPF_MAP_CREATE, &mut attr)?)?;
        let fd = map.as_raw_fd().to_le_bytes();
        let insn = |code: u8, regs: u8, off: i16, imm: [u8; 4]| {
            let off = off.to_le_bytes();
            u64::from_le_bytes([code, regs, off[0], off[1], imm[0], imm[1], imm[2], imm[3]])
        };
        let program = [
            // *(u32 *)(r10 - 4) = 0; r2 = r10; r2 += -4
            insn(0x62, 0x0a, -4, [0; 4]),
            insn(0xbf, 0xa2, 0, [0; 4]),
            insn(0x07, 0x02, 0, (-4i32).to_le_bytes()),
            // r1 = the map (BPF_PSEUDO_MAP_FD), a two-slot instruction
            insn(0x18, 0x11, 0, fd),
            insn(0, 0, 0, [0; 4]),
            // r0 = bpf_map_lookup_elem(r1, r2); if r0 == 0 goto drop
            insn(0x85, 0, 0, 1i32.to_le_bytes()),
            insn(0x15, 0x00, 3, [0; 4]),
            // *(u64 *)r0 += 1
            insn(0x79, 0x01, 0, [0; 4]),
            insn(0x07, 0x01, 0, 1i32.to_le_bytes()),
            insn(0x7b, 0x10, 0, [0; 4]),
            // drop: r0 = XDP_DROP; exit
            insn(0xb7, 0x00, 0, 1i32.to_le_bytes()),
            insn(0x95, 0, 0, [0; 4]),
        ];
        Self::load_program(&program)
    }

    fn load(action: u8) -> io::Result<Self> {
        let program: [u64; 2] = [
            u64::from_le_bytes([0xb7, 0x00, 0, 0, action, 0, 0, 0]),
            u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
        ];
        Self::load_program(&program)
    }

    fn load_program(program: &[u64]) -> io::Result<Self> {
        let license = c"GPL";
        // SAFETY: bpf_attr is a union of plain integers: all-zero is valid.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.__bindgen_anon_3.prog_type = bpf_prog_type::BPF_PROG_TYPE_XDP as u32;
        attr.__bindgen_anon_3.insn_cnt = u32_of(program.len())?;
        attr.__bindgen_anon_3.insns = program.as_ptr() as u64;
        attr.__bindgen_anon_3.license = license.as_ptr() as u64;
        let fd = owned(bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr)?)?;
        Ok(Self { fd })
    }

    /// Runs it `repeat` times on `frame` with `BPF_PROG_TEST_RUN`; the kernel's mean time a
    /// run.
    ///
    /// # Errors
    /// The kernel's.
    pub fn test_run(&self, frame: &[u8], repeat: u32) -> io::Result<Duration> {
        let mut out = vec![0u8; frame.len() + 256];
        // SAFETY: as in `load`.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.test.prog_fd = u32_of(self.fd.as_raw_fd())?;
        attr.test.data_in = frame.as_ptr() as u64;
        attr.test.data_size_in = u32_of(frame.len())?;
        attr.test.data_out = out.as_mut_ptr() as u64;
        attr.test.data_size_out = u32_of(out.len())?;
        attr.test.repeat = repeat;
        bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr)?;
        // SAFETY: the kernel wrote the duration back into the test member.
        Ok(Duration::from_nanos(u64::from(unsafe {
            attr.test.duration
        })))
    }

    /// Runs it on `count` live copies of `frame` as if they had arrived on `ifindex` (of the
    /// caller's network namespace), on the calling thread's CPU: with `XDP_TX` each is sent
    /// out of that interface (`BPF_F_TEST_XDP_LIVE_FRAMES`, Linux 5.18 or later).
    ///
    /// # Errors
    /// The kernel's.
    pub fn send_live(&self, frame: &[u8], ifindex: u32, count: u32) -> io::Result<()> {
        // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index,
        // egress_ifindex; the kernel wants data and data_meta zero, data_end the frame's
        // length.
        let mut ctx = [0u32; 6];
        ctx[1] = u32_of(frame.len())?;
        ctx[3] = ifindex;
        // SAFETY: as in `load`.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.test.prog_fd = u32_of(self.fd.as_raw_fd())?;
        attr.test.data_in = frame.as_ptr() as u64;
        attr.test.data_size_in = u32_of(frame.len())?;
        attr.test.ctx_in = ctx.as_ptr() as u64;
        attr.test.ctx_size_in = u32_of(size_of_val(&ctx))?;
        attr.test.repeat = count;
        attr.test.flags = TEST_XDP_LIVE_FRAMES;
        bpf(bpf_cmd::BPF_PROG_TEST_RUN, &mut attr).map(drop)
    }

    /// Attaches it to the interface `ifindex` (of the caller's network namespace) as native
    /// XDP, through a BPF link that holds it until the returned descriptor is closed.
    ///
    /// # Errors
    /// The kernel's.
    pub fn attach(&self, ifindex: u32) -> io::Result<OwnedFd> {
        // SAFETY: as in `load`.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.link_create.__bindgen_anon_1.prog_fd = u32_of(self.fd.as_raw_fd())?;
        attr.link_create.__bindgen_anon_2.target_ifindex = ifindex;
        attr.link_create.attach_type = bpf_attach_type::BPF_XDP as u32;
        owned(bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?)
    }
}

impl AsFd for BareXdp {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
