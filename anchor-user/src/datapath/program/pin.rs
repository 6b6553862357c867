//! The daemon's pinned state on bpffs, one directory per instance:
//!
//! ```text
//! BPFFS/anchor/INSTANCE/
//!   maps/NAME           the program's maps (BINDINGS, SHORT_PREFIXES, BINDING_STATS, ...)
//!   links/MODE/IFACE    the XDP link of each interface (MODE is `native` or `skb`)
//! ```
//!
//! bpffs refuses names with a dot: an interface name's dots are written as colons, which
//! interface names cannot contain, and instance names have no dots.
//!
//! What is pinned outlives the daemon: the links keep the program attached and the maps keep
//! the bindings and counters, so that a restarted daemon adopts them without losing a packet.
//! [`PinDir::open`] makes sure BPFFS is a bpffs (mounting one when it is missing) and locks the
//! instance, so that two daemons never share one.

use std::{
    fs::File,
    io,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
};

use crate::datapath::{error::PinError, params::XdpMode};

/// Where bpffs is mounted unless the config says otherwise.
pub const DEFAULT_BPFFS: &str = "/sys/fs/bpf";
/// The instance name unless the config says otherwise.
pub const DEFAULT_INSTANCE: &str = "default";
/// The longest instance name.
pub const MAX_INSTANCE_LEN: usize = 64;
/// `statfs` magic number of bpffs (`BPF_FS_MAGIC` in linux/magic.h).
const BPF_FS_MAGIC: u32 = 0xcafe_4a11;

/// Why `instance` cannot name an instance, if it cannot: it becomes a directory name.
pub fn instance_problem(instance: &str) -> Option<&'static str> {
    if instance.is_empty() {
        Some("it is empty")
    } else if instance.len() > MAX_INSTANCE_LEN {
        Some("it is longer than 64 bytes")
    } else if !instance
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        Some("only ASCII letters, digits, '-' and '_' are allowed")
    } else {
        None
    }
}

/// A pinned XDP link found in the instance directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedLinkPath {
    pub mode: XdpMode,
    pub iface: String,
    pub path: PathBuf,
}

/// An instance's pin directory, locked for this process while the value lives.
#[derive(Debug)]
pub struct PinDir {
    instance: String,
    dir: PathBuf,
    /// `flock`ed: the lock goes with the descriptor, also when the daemon is killed.
    _lock: File,
}

impl PinDir {
    /// Mounts bpffs on `bpffs` if it is not one (only in the host's mount namespace, where the
    /// mount outlives the daemon), creates `bpffs/anchor/INSTANCE/{maps,links}` and locks it.
    pub fn open(bpffs: &Path, instance: &str) -> Result<Self, PinError> {
        if let Some(reason) = instance_problem(instance) {
            return Err(PinError::InvalidInstance {
                instance: instance.to_owned(),
                reason,
            });
        }
        ensure_bpffs(bpffs)?;
        let dir = bpffs.join("anchor").join(instance);
        for sub in ["maps", "links/native", "links/skb"] {
            let path = dir.join(sub);
            std::fs::create_dir_all(&path)
                .map_err(|source| PinError::CreateDir { path, source })?;
        }
        let lock = File::open(&dir).map_err(|source| PinError::Lock {
            path: dir.clone(),
            source,
        })?;
        // SAFETY: `lock` is an open descriptor for the duration of the call.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let source = io::Error::last_os_error();
            return Err(if source.raw_os_error() == Some(libc::EWOULDBLOCK) {
                PinError::InUse {
                    instance: instance.to_owned(),
                    path: dir,
                }
            } else {
                PinError::Lock { path: dir, source }
            });
        }
        Ok(Self {
            instance: instance.to_owned(),
            dir,
            _lock: lock,
        })
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// `bpffs/anchor/INSTANCE`.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where map `name` is pinned.
    pub fn map(&self, name: &str) -> PathBuf {
        self.dir.join("maps").join(name)
    }

    /// Where a map replacing map `name` is pinned until it takes the name over.
    pub(super) fn staged_map(&self, name: &str) -> PathBuf {
        self.dir.join("maps").join(format!("migrating-{name}"))
    }

    /// Where the XDP link of `iface` attached in `mode` is pinned.
    pub fn link(&self, mode: XdpMode, iface: &str) -> PathBuf {
        self.dir
            .join("links")
            .join(mode.to_string())
            .join(iface.replace('.', ":"))
    }

    /// Every pinned link, in both modes.
    pub fn links(&self) -> Result<Vec<PinnedLinkPath>, PinError> {
        let mut links = Vec::new();
        for mode in [XdpMode::Native, XdpMode::Skb] {
            let dir = self.dir.join("links").join(mode.to_string());
            let list_error = |source| PinError::List {
                path: dir.clone(),
                source,
            };
            for entry in std::fs::read_dir(&dir).map_err(list_error)? {
                let entry = entry.map_err(list_error)?;
                links.push(PinnedLinkPath {
                    mode,
                    iface: entry.file_name().to_string_lossy().replace(':', "."),
                    path: entry.path(),
                });
            }
        }
        links.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(links)
    }

    /// Whether anything is pinned: a map or a link.
    pub fn has_state(&self) -> Result<bool, PinError> {
        let maps = self.dir.join("maps");
        let mut entries = std::fs::read_dir(&maps).map_err(|source| PinError::List {
            path: maps.clone(),
            source,
        })?;
        Ok(entries.next().is_some() || !self.links()?.is_empty())
    }

    /// Removes every pin (which detaches the links nobody else holds) but keeps the locked
    /// directory.
    pub fn clear(&self) -> Result<(), PinError> {
        for sub in ["maps", "links"] {
            remove_tree(&self.dir.join(sub))?;
        }
        Ok(())
    }

    /// Removes the instance directory with every pin in it: links nobody else holds detach,
    /// maps nobody else holds are freed.
    pub fn remove(self) -> Result<(), PinError> {
        remove_tree(&self.dir)
    }
}

fn remove_tree(path: &Path) -> Result<(), PinError> {
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PinError::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Whether `path` is on a bpffs (`false` when it does not exist).
pub fn is_bpffs(path: &Path) -> Result<bool, PinError> {
    use std::os::unix::ffi::OsStrExt as _;
    let inspect_error = |source| PinError::Inspect {
        path: path.to_owned(),
        source,
    };
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| inspect_error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: an all-zero `statfs` is a valid value; the kernel fills it in.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is writable, both for the whole call.
    if unsafe { libc::statfs(c_path.as_ptr(), &raw mut stat) } != 0 {
        let error = io::Error::last_os_error();
        return match error.kind() {
            io::ErrorKind::NotFound => Ok(false),
            _ => Err(inspect_error(error)),
        };
    }
    // `f_type` is signed on some targets, unsigned on others.
    let magic = u64::try_from(stat.f_type).ok();
    Ok(magic == Some(u64::from(BPF_FS_MAGIC)))
}

/// Whether this process shares the mount namespace of PID 1 (`None` when that cannot be told).
fn in_host_mount_namespace() -> Option<bool> {
    let ours = std::fs::metadata("/proc/self/ns/mnt").ok()?;
    let init = std::fs::metadata("/proc/1/ns/mnt").ok()?;
    Some(ours.ino() == init.ino() && ours.dev() == init.dev())
}

fn ensure_bpffs(path: &Path) -> Result<(), PinError> {
    if is_bpffs(path)? {
        return Ok(());
    }
    match in_host_mount_namespace() {
        Some(false) => {
            return Err(PinError::PrivateMountNamespace {
                path: path.to_owned(),
            });
        }
        Some(true) => {}
        None => log::warn!(
            "cannot tell whether this is the host's mount namespace (PID 1's is unreadable); \
             mounting bpffs on {}: if this daemon runs in a mount namespace of its own (as under \
             `ip netns exec`), its pinned state vanishes when it exits",
            path.display()
        ),
    }
    std::fs::create_dir_all(path).map_err(|source| PinError::CreateDir {
        path: path.to_owned(),
        source,
    })?;
    mount_bpffs(path)?;
    log::info!("mounted bpffs on {}", path.display());
    Ok(())
}

fn mount_bpffs(path: &Path) -> Result<(), PinError> {
    use std::os::unix::ffi::OsStrExt as _;
    let mount_error = |source| PinError::Mount {
        path: path.to_owned(),
        source,
    };
    let target = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| mount_error(io::Error::from(io::ErrorKind::InvalidInput)))?;
    // SAFETY: every pointer is a NUL-terminated string alive for the call; no mount data.
    let status = unsafe {
        libc::mount(
            c"bpf".as_ptr(),
            target.as_ptr(),
            c"bpf".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if status != 0 {
        return Err(mount_error(io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_names() {
        for good in ["default", "r1", "anc-t123-r1", "a-b_c", &"x".repeat(64)] {
            assert_eq!(instance_problem(good), None, "{good}");
        }
        // bpffs refuses names with a dot.
        for bad in ["", ".", "..", "a.b", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(instance_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn a_missing_path_is_not_bpffs() {
        assert!(!is_bpffs(Path::new("/nonexistent/anchor")).expect("statfs"));
        assert!(!is_bpffs(Path::new("/")).expect("statfs"));
    }

    /// Needs root and a bpffs at /sys/fs/bpf (`cargo xtask setup` mounts it), as every
    /// privileged test run by `cargo xtask test`.
    #[test]
    fn privileged_pin_dir_layout_and_lock() {
        let bpffs = Path::new(DEFAULT_BPFFS);
        let instance = format!("unit-pin-{}", std::process::id());
        let pins = PinDir::open(bpffs, &instance).expect("open");
        assert!(is_bpffs(pins.path()).expect("statfs"));
        assert!(!pins.has_state().expect("state"));
        assert_eq!(
            pins.link(XdpMode::Skb, "eth0"),
            bpffs.join("anchor").join(&instance).join("links/skb/eth0")
        );
        // A dotted interface name is pinned with colons and listed with its dots.
        std::fs::create_dir(pins.link(XdpMode::Native, "eth0.100")).expect("mkdir");
        assert_eq!(
            pins.links().expect("links"),
            vec![PinnedLinkPath {
                mode: XdpMode::Native,
                iface: "eth0.100".to_owned(),
                path: pins.path().join("links/native/eth0:100"),
            }]
        );
        assert!(matches!(
            PinDir::open(bpffs, &instance),
            Err(PinError::InUse { .. })
        ));
        let dir = pins.path().to_owned();
        pins.remove().expect("remove");
        assert!(!dir.exists());
    }
}
