//! Loading the XDP object and attaching its program to interfaces.

use std::{ffi::CString, path::PathBuf};

use anchor_common::{
    IfaceRole, IfaceValue,
    cache::BINDING_CACHE_SETS,
    config::{GLOBAL_LOCATOR, GLOBAL_OUTER_HOP_LIMIT, GLOBAL_TUNNEL_MTU, MIN_TUNNEL_MTU},
    maps::{BINDING_CACHE, BINDING_STATS, BINDINGS, DEBUG, DENSE},
};
use aya::{
    Ebpf, EbpfLoader,
    maps::Array,
    programs::{Program, ProgramError, Xdp, xdp::XdpLink},
};

use super::{
    adopt::{MapAction, Plan},
    klog::{self, KernelLogger},
    pin::PinDir,
};
use crate::{
    EBPF_OBJECT,
    datapath::{
        dense_layout::DenseLayout,
        error::{DatapathError, PinError},
        maps::ProgramMaps,
        params::{DatapathParams, LogLevel, PROGRAM_NAME, XdpMode},
    },
};

/// Linux's `IFNAMSIZ` minus the terminating NUL.
const MAX_IFNAME_LEN: usize = 15;

/// An interface the program is attached to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedInterface {
    pub name: String,
    pub ifindex: u32,
    pub role: IfaceRole,
    pub mode: XdpMode,
}

/// An interface to attach to, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSpec {
    pub name: String,
    pub role: IfaceRole,
    pub mode: XdpMode,
    /// Source address validation (access interfaces only): see `IFACE_FLAG_SOURCE_VALIDATION`.
    pub source_validation: bool,
}

impl InterfaceSpec {
    /// The interface's `IFACES` entry.
    pub fn iface_value(&self) -> IfaceValue {
        if self.source_validation && self.role == IfaceRole::Access {
            IfaceValue::access_validated()
        } else {
            IfaceValue::new(self.role)
        }
    }
}

pub(super) struct Attachment {
    pub(super) info: AttachedInterface,
    /// Detaches the program from the interface when dropped, unless it is pinned.
    pub(super) _link: XdpLink,
    /// Where the link is pinned (see [`Datapath::start`]).
    pub(super) pin: Option<PathBuf>,
    /// Whether the link was pinned before this daemon started and taken over by it.
    pub(super) adopted: bool,
}

/// The loaded XDP program and its maps.
///
/// Dropping it detaches the program from every interface it was attached to by
/// [`Self::attach`], and unloads it unless a pinned link (see [`Self::start`]) still runs it.
pub struct Datapath {
    // Field order is drop order: the links go before the program they attach.
    pub(super) links: Vec<Attachment>,
    pub(super) maps: ProgramMaps,
    logger: Option<KernelLogger>,
    pub(super) ebpf: Ebpf,
}

impl Datapath {
    /// Loads the program (not attached anywhere yet), with its aya-log output at
    /// [`LogLevel::Trace`] when `params.log` is set and off otherwise.
    pub fn load(params: &DatapathParams) -> Result<Self, DatapathError> {
        let level = if params.log {
            LogLevel::Trace
        } else {
            LogLevel::Off
        };
        Self::load_with_log_level(params, level)
    }

    /// Like [`Self::load`], with the program's aya-log output at `log_level` (`params.log` is
    /// ignored).
    pub fn load_with_log_level(
        params: &DatapathParams,
        log_level: LogLevel,
    ) -> Result<Self, DatapathError> {
        Self::load_inner(params, log_level, None)
    }

    /// Loads the program. With `pinned`, the maps the plan reuses or creates are the ones
    /// pinned in the directory (created and pinned there when missing), and the maps it
    /// recreates are new maps pinned under a staging name.
    pub(super) fn load_inner(
        params: &DatapathParams,
        log_level: LogLevel,
        pinned: Option<(&PinDir, &Plan)>,
    ) -> Result<Self, DatapathError> {
        check_params(params)?;
        let layout = DenseLayout::new(&params.dense_pools);
        let locator = params.locator.octets();
        let tunnel_mtu = params.tunnel_mtu;
        let outer_hop_limit = u32::from(params.outer_hop_limit);
        let aya_log_level = log_level.aya_level();
        // The binding cache: one run of sets per possible CPU, each CPU's program in its own.
        let cpus = aya::util::nr_cpus().map_err(|(_, error)| DatapathError::Cpus(error))?;
        let cache_sets = u32::try_from(cpus)
            .ok()
            .and_then(|cpus| cpus.checked_mul(BINDING_CACHE_SETS))
            .unwrap_or(BINDING_CACHE_SETS);
        let mut loader = EbpfLoader::new();
        loader
            .override_global(GLOBAL_LOCATOR, &locator, true)
            .override_global(GLOBAL_TUNNEL_MTU, &tunnel_mtu, true)
            .override_global(GLOBAL_OUTER_HOP_LIMIT, &outer_hop_limit, true)
            // Absent when the program does not log at all.
            .override_global(aya_log::LEVEL, &aya_log_level, false)
            .map_max_entries(BINDINGS, params.max_bindings)
            .map_max_entries(BINDING_STATS, params.max_bindings)
            .map_max_entries(DENSE, layout.slots())
            .map_max_entries(BINDING_CACHE, cache_sets);
        if let Some((pins, plan)) = pinned {
            for &(name, _, action) in &plan.maps {
                if action != MapAction::Recreate {
                    loader.map_pin_path(name, pins.map(name));
                }
            }
        }
        let mut ebpf = loader.load(EBPF_OBJECT).map_err(DatapathError::Object)?;

        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or(DatapathError::MissingProgram)?
            .try_into()
            .map_err(DatapathError::Load)?;
        program.load().map_err(|error| match error {
            ProgramError::LoadError {
                io_error,
                verifier_log,
            } => {
                let verifier_log = verifier_log.to_string();
                tracing::debug!("verifier output for {PROGRAM_NAME}:\n{verifier_log}");
                DatapathError::Verifier {
                    source: io_error,
                    verifier_log,
                }
            }
            other => DatapathError::Load(other),
        })?;

        if let Some((pins, plan)) = pinned {
            for name in plan.recreated() {
                let staged = pins.staged_map(name);
                remove_pin(&staged)?;
                let map = ebpf.map(name).ok_or(DatapathError::MissingMap { name })?;
                map.pin(&staged).map_err(|source| PinError::Pin {
                    what: format!("map {name}"),
                    path: staged.clone(),
                    source,
                })?;
            }
        }
        let maps = ProgramMaps::take(&mut ebpf, params.max_bindings, layout)?;
        let logger = if log_level == LogLevel::Off {
            None
        } else {
            match aya_log::EbpfLogger::init_with_logger(&mut ebpf, klog::forwarder()) {
                Ok(logger) => Some(logger),
                Err(aya_log::Error::MapNotFound) => {
                    tracing::warn!("the XDP program has no log map: it logs nothing");
                    None
                }
                Err(error) => return Err(DatapathError::Logger(error)),
            }
        };
        Ok(Self {
            links: Vec::new(),
            maps,
            logger,
            ebpf,
        })
    }

    /// Attaches the program to `iface` in `mode` (no fallback to another mode) and records the
    /// interface's role. The program stays attached until [`Self::detach`] or drop.
    pub fn attach(
        &mut self,
        iface: &str,
        role: IfaceRole,
        mode: XdpMode,
    ) -> Result<(), DatapathError> {
        let ifindex = ifindex(iface)?;
        if self.links.iter().any(|a| a.info.ifindex == ifindex) {
            return Err(DatapathError::AlreadyAttached {
                iface: iface.to_owned(),
            });
        }
        // The role goes in first so that the program sees it from the first packet.
        self.maps.set_iface_role(ifindex, role)?;
        self.add_tx_port_of(iface, ifindex);
        let attach_error = |source| DatapathError::Attach {
            iface: iface.to_owned(),
            mode,
            source,
        };
        let link = self.program_mut().and_then(|program| {
            let id = program
                .attach_to_if_index(ifindex, mode.into())
                .map_err(attach_error)?;
            program.take_link(id).map_err(attach_error)
        });
        let link = match link {
            Ok(link) => link,
            Err(error) => {
                if let Err(cleanup) = self.maps.remove_iface(ifindex) {
                    tracing::warn!(
                        "cannot remove the role of {iface} after a failed attach: {cleanup}"
                    );
                }
                return Err(error);
            }
        };
        self.links.push(Attachment {
            info: AttachedInterface {
                name: iface.to_owned(),
                ifindex,
                role,
                mode,
            },
            _link: link,
            pin: None,
            adopted: false,
        });
        Ok(())
    }

    /// Puts the attached interface `iface` (index `ifindex`) in `TX_PORTS`. A failure costs
    /// the device-map redirect to it, not a packet: logged, not returned.
    pub(super) fn add_tx_port_of(&mut self, iface: &str, ifindex: u32) {
        if let Err(error) = self.maps.add_tx_port(ifindex) {
            tracing::warn!(
                "{}: packets to {iface} are redirected by interface index",
                anchor_pmip::error_chain(&error)
            );
        }
    }

    /// Detaches the program from `iface` (unpinning its link if it is pinned) and forgets its
    /// role.
    pub fn detach(&mut self, iface: &str) -> Result<(), DatapathError> {
        let position = self
            .links
            .iter()
            .position(|a| a.info.name == iface)
            .ok_or_else(|| DatapathError::UnknownInterface {
                iface: iface.to_owned(),
            })?;
        let attachment = self.links.remove(position);
        let ifindex = attachment.info.ifindex;
        if let Some(pin) = &attachment.pin {
            remove_pin(pin)?;
        }
        drop(attachment);
        self.maps.remove_iface(ifindex)
    }

    /// The interfaces the program is attached to, in attach order.
    pub fn interfaces(&self) -> impl Iterator<Item = &AttachedInterface> {
        self.links.iter().map(|a| &a.info)
    }

    /// Sets the role of an interface without attaching to it (tests run the program with
    /// `BPF_PROG_TEST_RUN` on `lo`, ifindex 1).
    pub fn set_iface_role(&mut self, ifindex: u32, role: IfaceRole) -> Result<(), DatapathError> {
        self.maps.set_iface_role(ifindex, role)
    }

    /// The loaded program, for `BPF_PROG_TEST_RUN` (`aya::programs::TestRun`).
    pub fn program(&self) -> &Xdp {
        match self.ebpf.program(PROGRAM_NAME) {
            Some(Program::Xdp(program)) => program,
            // `load_with_log_level` returns an error unless the program exists and is XDP, and
            // programs are never removed from `ebpf`.
            _ => unreachable!("{PROGRAM_NAME} was checked to be an XDP program at load"),
        }
    }

    pub(super) fn program_mut(&mut self) -> Result<&mut Xdp, DatapathError> {
        self.ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or(DatapathError::MissingProgram)?
            .try_into()
            .map_err(DatapathError::Load)
    }

    /// Turns the program's packet debugging on or off: its aya-log records on rare paths (drops),
    /// when it was loaded with logging on (see [`DatapathParams::log`]).
    pub fn set_packet_debug(&mut self, on: bool) -> Result<(), DatapathError> {
        let map = self
            .ebpf
            .map_mut(DEBUG)
            .ok_or(DatapathError::MissingMap { name: DEBUG })?;
        let mut flag = Array::<_, u32>::try_from(map).map_err(|source| DatapathError::MapType {
            name: DEBUG,
            source,
        })?;
        flag.set(0, u32::from(on), 0)
            .map_err(|source| DatapathError::Map {
                operation: "write",
                name: DEBUG,
                source,
            })
    }

    /// Takes the reader of the program's log records, when logging is on. Drive it with
    /// [`forward_kernel_logs`], or the program's log buffer fills up and records are lost.
    ///
    /// [`forward_kernel_logs`]: klog::forward_kernel_logs
    pub fn take_kernel_logger(&mut self) -> Option<KernelLogger> {
        self.logger.take()
    }
}

/// Removes a pin (nothing when there is none): a link nobody else holds detaches.
pub(super) fn remove_pin(path: &std::path::Path) -> Result<(), PinError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(PinError::Remove {
            path: path.to_owned(),
            source,
        }),
    }
}

fn check_params(params: &DatapathParams) -> Result<(), DatapathError> {
    if params.tunnel_mtu < MIN_TUNNEL_MTU || params.tunnel_mtu > u32::from(u16::MAX) {
        return Err(DatapathError::InvalidParam {
            name: "tunnel_mtu",
            value: params.tunnel_mtu.to_string(),
            reason: "must be in 1320..=65535",
        });
    }
    if params.outer_hop_limit == 0 {
        return Err(DatapathError::InvalidParam {
            name: "outer_hop_limit",
            value: "0".to_owned(),
            reason: "must be in 1..=255",
        });
    }
    if params.max_bindings == 0 {
        return Err(DatapathError::InvalidParam {
            name: "max_bindings",
            value: "0".to_owned(),
            reason: "must be at least 1",
        });
    }
    Ok(())
}

/// The index of interface `iface`.
pub fn ifindex(iface: &str) -> Result<u32, DatapathError> {
    let valid = !iface.is_empty()
        && iface.len() <= MAX_IFNAME_LEN
        && !iface
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0);
    let name = CString::new(iface).ok().filter(|_| valid).ok_or_else(|| {
        DatapathError::InvalidInterfaceName {
            iface: iface.to_owned(),
        }
    })?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the call.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(DatapathError::UnknownInterface {
            iface: iface.to_owned(),
        });
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_interface_names_without_asking_the_kernel() {
        for name in ["", "a/b", "a b", "a\0b", "sixteen-chars-xx", "eth0:1"] {
            assert!(
                matches!(
                    ifindex(name),
                    Err(DatapathError::InvalidInterfaceName { .. })
                ),
                "{name:?}"
            );
        }
    }

    #[test]
    fn check_params_rejects_out_of_range_values() {
        let ok = DatapathParams {
            locator: "2001:db8::1".parse().expect("address"),
            tunnel_mtu: 1500,
            outer_hop_limit: 64,
            max_bindings: 16,
            dense_pools: Vec::new(),
            log: false,
        };
        assert!(check_params(&ok).is_ok());
        for bad in [
            DatapathParams {
                tunnel_mtu: 1319,
                ..ok.clone()
            },
            DatapathParams {
                tunnel_mtu: 65536,
                ..ok.clone()
            },
            DatapathParams {
                outer_hop_limit: 0,
                ..ok.clone()
            },
            DatapathParams {
                max_bindings: 0,
                dense_pools: Vec::new(),
                ..ok.clone()
            },
        ] {
            assert!(matches!(
                check_params(&bad),
                Err(DatapathError::InvalidParam { .. })
            ));
        }
    }
}
