//! Tiny XDP programs by raw `bpf()` calls, so that the rig needs neither aya nor an object
//! file: two instructions (`r0 = VERDICT; exit`), loaded, run with BPF_PROG_TEST_RUN (plain and
//! live frames) and pinned on bpffs so that `ip link` can attach them. `cargo xtask doctor`
//! probes the kernel with one; the rig gives the veth ends without a router one that passes
//! every frame (see [`crate::topology`]).

use std::{
    ffi::CString,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    path::Path,
};

/// `bpf()` commands and constants (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_OBJ_PIN: libc::c_long = 6;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;
/// Verdicts.
pub const XDP_DROP: u32 = 1;
pub const XDP_PASS: u32 = 2;
/// `statfs` magic of bpffs.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// The attribute layouts this module uses, each a prefix of `union bpf_attr`, with no implicit
/// padding (its bytes would be undefined, and the kernel checks that unknown tail bytes are zero).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct ObjPin {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    /// Explicit, so that it is zero: the kernel refuses non-zero bytes after the last field.
    _pad: u32,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> std::io::Result<i64> {
    // SAFETY: `attr` is a valid, initialized prefix of `union bpf_attr` for `command`, and its
    // size is passed along; the kernel reads and writes only within it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_mut(attr),
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Loads `r0 = verdict; exit` as an XDP program.
pub fn load_xdp_returning(verdict: u32) -> std::io::Result<OwnedFd> {
    let [v0, v1, v2, v3] = verdict.to_le_bytes();
    // BPF_ALU64 | BPF_MOV | BPF_K with dst r0, then BPF_JMP | BPF_EXIT.
    let insns: [u64; 2] = [
        u64::from_le_bytes([0xb7, 0, 0, 0, v0, v1, v2, v3]),
        u64::from_le_bytes([0x95, 0, 0, 0, 0, 0, 0, 0]),
    ];
    let license = c"GPL";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: 2,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        ..ProgLoad::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut attr)?;
    let fd = i32::try_from(fd).map_err(|_| std::io::Error::other("fd out of range"))?;
    // SAFETY: the kernel just returned this new descriptor, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Runs `prog` once on a 64-octet frame; with `live`, in live-frames mode (the frame goes
/// through the real XDP path of the calling thread's loopback device). Returns the verdict
/// (always 0 in live mode, which reports none).
pub fn test_run(prog: &OwnedFd, live: bool) -> std::io::Result<u32> {
    let mut frame = [0u8; 64];
    // Ethernet: broadcast destination, a local source, EtherType IPv6 with an empty payload.
    frame[..6].fill(0xff);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x86, 0xdd]);
    let mut out = [0u8; 128];
    let mut attr = TestRun {
        prog_fd: prog.as_raw_fd().cast_unsigned(),
        data_size_in: u32::try_from(frame.len()).expect("64 octets"),
        data_in: frame.as_ptr() as u64,
        repeat: 1,
        ..TestRun::default()
    };
    if live {
        attr.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
        attr.batch_size = 1;
    } else {
        attr.data_size_out = u32::try_from(out.len()).expect("128 octets");
        attr.data_out = out.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_TEST_RUN, &mut attr)?;
    Ok(attr.retval)
}

/// Pins `prog` at `path` (on bpffs).
pub fn pin(prog: &OwnedFd, path: &Path) -> std::io::Result<()> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::other("a path with a NUL"))?;
    let mut attr = ObjPin {
        pathname: c_path.as_ptr() as u64,
        bpf_fd: prog.as_raw_fd().cast_unsigned(),
        file_flags: 0,
    };
    bpf(BPF_OBJ_PIN, &mut attr).map(drop)
}

/// Whether `dir` is a mounted bpffs.
pub fn is_bpffs(dir: &Path) -> bool {
    let Ok(c_path) = CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs writes only into the zeroed struct it is given.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a valid out pointer.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &raw mut stat) };
    #[expect(
        clippy::useless_conversion,
        reason = "f_type is i64 on x86_64, narrower on other targets"
    )]
    let f_type = i64::from(stat.f_type);
    rc == 0 && f_type == BPF_FS_MAGIC
}
