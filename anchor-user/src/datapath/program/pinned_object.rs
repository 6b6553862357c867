//! What a pin on bpffs holds, before anything is done with it: a map, a program, or a link, and
//! for an XDP link its interface and program. aya opens pins but does not tell a link's
//! interface, so this asks the kernel directly (`BPF_OBJ_GET`, `BPF_OBJ_GET_INFO_BY_FD`).

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

use aya_obj::generated::{bpf_cmd, bpf_link_info, bpf_link_type};

/// The kind of object behind a pin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum PinnedObject {
    /// An XDP link: the interface it is attached to (0 once that interface is gone) and its
    /// program.
    XdpLink {
        ifindex: u32,
        program_id: u32,
    },
    /// A link of another type (`BPF_LINK_TYPE_*`).
    OtherLink {
        link_type: u32,
    },
    Map,
    Program,
    /// Anything else, as `/proc/self/fd` names it.
    Other(String),
}

impl std::fmt::Display for PinnedObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::XdpLink { ifindex, .. } => write!(f, "an XDP link on ifindex {ifindex}"),
            Self::OtherLink { link_type } => write!(f, "a BPF link of type {link_type}"),
            Self::Map => f.write_str("a BPF map"),
            Self::Program => f.write_str("a BPF program"),
            Self::Other(what) => write!(f, "{what}"),
        }
    }
}

/// `bpf_attr` for `BPF_OBJ_GET`.
#[repr(C)]
struct ObjGetAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
}

/// `bpf_attr` for `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
struct InfoAttr {
    bpf_fd: u32,
    info_len: u32,
    info: u64,
}

fn bpf<T>(cmd: bpf_cmd, attr: &mut T) -> io::Result<i64> {
    // SAFETY: `attr` is a valid, initialised `bpf_attr` prefix of `size_of::<T>()` bytes that
    // lives for the call; the kernel zero-extends a short attribute.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_int,
            std::ptr::from_mut(attr),
            size_of::<T>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Opens the object pinned at `path`.
fn open(path: &Path) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let mut attr = ObjGetAttr {
        pathname: path.as_ptr() as u64,
        bpf_fd: 0,
        file_flags: 0,
    };
    let fd = bpf(bpf_cmd::BPF_OBJ_GET, &mut attr)?;
    let fd = i32::try_from(fd).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    // SAFETY: BPF_OBJ_GET returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What is pinned at `path`.
pub(super) fn inspect(path: &Path) -> io::Result<PinnedObject> {
    let fd = open(path)?;
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let target = target.to_string_lossy();
    match target.as_ref() {
        "anon_inode:bpf-map" => Ok(PinnedObject::Map),
        "anon_inode:bpf-prog" => Ok(PinnedObject::Program),
        "anon_inode:bpf-link" => link_info(&fd),
        other => Ok(PinnedObject::Other(other.to_owned())),
    }
}

fn link_info(fd: &OwnedFd) -> io::Result<PinnedObject> {
    // SAFETY: `bpf_link_info` is plain data for which all zeroes is a valid value.
    let mut info: bpf_link_info = unsafe { std::mem::zeroed() };
    let mut attr = InfoAttr {
        bpf_fd: u32::try_from(fd.as_raw_fd())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?,
        info_len: u32::try_from(size_of::<bpf_link_info>())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?,
        info: std::ptr::from_mut(&mut info) as u64,
    };
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    if info.type_ == bpf_link_type::BPF_LINK_TYPE_XDP as u32 {
        // SAFETY: the kernel filled the `xdp` member of the union for an XDP link.
        let ifindex = unsafe { info.__bindgen_anon_1.xdp.ifindex };
        Ok(PinnedObject::XdpLink {
            ifindex,
            program_id: info.prog_id,
        })
    } else {
        Ok(PinnedObject::OtherLink {
            link_type: info.type_,
        })
    }
}

/// The name of the loaded program with `id`, if there is one.
pub(super) fn program_name(id: u32) -> Option<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|program| program.id() == id)
        .map(|program| program.name_as_str().unwrap_or("").to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_pin_is_an_error() {
        assert!(inspect(Path::new("/nonexistent/pin")).is_err());
    }
}
