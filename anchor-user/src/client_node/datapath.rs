//! The mobile node's data plane for client-based DMM (RFC 8818 section 3.1.2): the programs of
//! `client/ebpf` loaded, attached to the node's interfaces, and their maps.
//!
//! - `client_decap` (XDP, native mode, as the router's program on veth) decapsulates
//!   IPv6-in-IPv6 from the anchors in `CLIENT_ANCHORS` ([`ClientDatapath::set_anchor`]) and
//!   drops it from any other host.
//! - `client_encap` (TC egress) encapsulates a packet whose source /64 has a tunnel in
//!   `CLIENT_TUNNELS` ([`ClientDatapath::set_tunnel`]) toward that /64's anchor.
//!
//! The two maps are independent: a tunnel does not make its anchor accepted for the downlink,
//! the caller sets both.

use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    net::Ipv6Addr,
};

use anchor_common::{
    ClientCounter, ClientTunnel,
    client::{CLIENT_ANCHORS, CLIENT_COUNTERS, CLIENT_TUNNELS, tunnel_key},
};
use aya::{
    Ebpf, EbpfLoader,
    maps::{HashMap, MapData, MapError, PerCpuArray},
    programs::{
        Program, ProgramError, SchedClassifier, TcAttachType, TcError, Xdp, XdpMode,
        tc::{SchedClassifierLink, qdisc_add_clsact},
        xdp::XdpLink,
    },
    sys::SyscallError,
};
use ipnet::Ipv6Net;
use thiserror::Error;

use crate::datapath::{DatapathError, ifindex};

/// The compiled programs (built by `build.rs` from `client/ebpf`).
pub static CLIENT_EBPF_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/client_node"));

/// The XDP program in the object.
pub const DECAP_PROGRAM: &str = "client_decap";
/// The TC program in the object.
pub const ENCAP_PROGRAM: &str = "client_encap";

#[derive(Debug, Error)]
pub enum ClientDatapathError {
    #[error("cannot load the client object")]
    Object {
        #[source]
        source: aya::EbpfError,
    },
    #[error("the client object has no program {name}")]
    MissingProgram { name: &'static str },
    #[error("program {name} of the client object does not have the expected type")]
    ProgramType {
        name: &'static str,
        #[source]
        source: ProgramError,
    },
    /// The verifier rejected a program; `verifier_log` holds its full output (not displayed,
    /// it is logged at debug level).
    #[error("the kernel rejected the program {name}")]
    Verifier {
        name: &'static str,
        #[source]
        source: io::Error,
        verifier_log: String,
    },
    #[error("cannot load the program {name}")]
    Load {
        name: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("the client object has no map {name}")]
    MissingMap { name: &'static str },
    #[error("map {name} in the client object does not have the expected type, key or value")]
    MapType {
        name: &'static str,
        #[source]
        source: MapError,
    },
    #[error("cannot {operation} map {name}")]
    Map {
        operation: &'static str,
        name: &'static str,
        #[source]
        source: MapError,
    },
    #[error("map {name} is full")]
    MapFull { name: &'static str },
    #[error("invalid interface name {iface:?}")]
    InvalidInterfaceName { iface: String },
    #[error("interface {iface} does not exist")]
    UnknownInterface { iface: String },
    #[error("interface {iface} is listed twice")]
    DuplicateInterface { iface: String },
    #[error("cannot attach {DECAP_PROGRAM} (XDP, native mode) to {iface}")]
    AttachXdp {
        iface: String,
        #[source]
        source: ProgramError,
    },
    #[error("cannot add a clsact qdisc to {iface}")]
    Clsact {
        iface: String,
        #[source]
        source: TcError,
    },
    #[error("cannot attach {ENCAP_PROGRAM} to the egress of {iface}")]
    AttachTc {
        iface: String,
        #[source]
        source: ProgramError,
    },
    #[error("invalid tunnel prefix {prefix}: {reason}")]
    InvalidPrefix {
        prefix: Ipv6Net,
        reason: &'static str,
    },
    #[error("invalid {what} {addr}: must be a global or unique-local unicast address")]
    InvalidAddress { what: &'static str, addr: Ipv6Addr },
}

/// The tunnel of one /64, as [`ClientDatapath::tunnels`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TunnelEntry {
    /// The anchor that delegated the /64: the outer destination of its uplink.
    pub anchor: Ipv6Addr,
    /// The node's current address: the outer source of its uplink.
    pub coa: Ipv6Addr,
}

/// The loaded programs and their maps.
///
/// Dropping it detaches both programs from every interface [`Self::load`] attached them to (the
/// clsact qdiscs stay) and unloads them.
pub struct ClientDatapath {
    // Field order is drop order: the links go before the programs they attach.
    xdp_links: Vec<XdpLink>,
    tc_links: Vec<SchedClassifierLink>,
    interfaces: Vec<String>,
    tunnels: HashMap<MapData, [u8; 8], ClientTunnel>,
    anchors: HashMap<MapData, [u8; 16], u32>,
    counters: PerCpuArray<MapData, u64>,
    ebpf: Ebpf,
}

impl ClientDatapath {
    /// Loads the programs and attaches them to every interface of `interfaces`: `client_decap`
    /// at XDP in native mode, `client_encap` at TC egress (after adding a clsact qdisc, or
    /// finding one). Every name is checked, and every interface must exist, before anything is
    /// attached; on an error, whatever was attached is detached again.
    pub fn load(interfaces: &[String]) -> Result<Self, ClientDatapathError> {
        Self::load_with_mode(interfaces, XdpMode::Driver)
    }

    /// Like [`Self::load`], with `client_decap` attached in `mode` (no fallback to another
    /// mode): [`XdpMode::Skb`] on an interface whose driver has no native XDP.
    pub fn load_with_mode(
        interfaces: &[String],
        mode: XdpMode,
    ) -> Result<Self, ClientDatapathError> {
        let mut indexes = Vec::with_capacity(interfaces.len());
        for (i, iface) in interfaces.iter().enumerate() {
            if interfaces[..i].contains(iface) {
                return Err(ClientDatapathError::DuplicateInterface {
                    iface: iface.clone(),
                });
            }
            let index = ifindex(iface).map_err(|error| match error {
                DatapathError::UnknownInterface { .. } => ClientDatapathError::UnknownInterface {
                    iface: iface.clone(),
                },
                _ => ClientDatapathError::InvalidInterfaceName {
                    iface: iface.clone(),
                },
            })?;
            indexes.push(index);
        }
        let mut datapath = Self::load_detached()?;
        for (iface, index) in interfaces.iter().zip(indexes) {
            datapath.attach(iface, index, mode)?;
        }
        Ok(datapath)
    }

    /// Loads the programs without attaching them anywhere: for `BPF_PROG_TEST_RUN`
    /// ([`Self::decap_program`], [`Self::encap_program`]).
    pub fn load_detached() -> Result<Self, ClientDatapathError> {
        let mut ebpf = EbpfLoader::new()
            .load(CLIENT_EBPF_OBJECT)
            .map_err(|source| ClientDatapathError::Object { source })?;
        load_program::<Xdp>(&mut ebpf, DECAP_PROGRAM, Xdp::load)?;
        load_program::<SchedClassifier>(&mut ebpf, ENCAP_PROGRAM, SchedClassifier::load)?;
        let tunnels =
            HashMap::try_from(take_map(&mut ebpf, CLIENT_TUNNELS)?).map_err(|source| {
                ClientDatapathError::MapType {
                    name: CLIENT_TUNNELS,
                    source,
                }
            })?;
        let anchors =
            HashMap::try_from(take_map(&mut ebpf, CLIENT_ANCHORS)?).map_err(|source| {
                ClientDatapathError::MapType {
                    name: CLIENT_ANCHORS,
                    source,
                }
            })?;
        let counters =
            PerCpuArray::try_from(take_map(&mut ebpf, CLIENT_COUNTERS)?).map_err(|source| {
                ClientDatapathError::MapType {
                    name: CLIENT_COUNTERS,
                    source,
                }
            })?;
        Ok(Self {
            xdp_links: Vec::new(),
            tc_links: Vec::new(),
            interfaces: Vec::new(),
            tunnels,
            anchors,
            counters,
            ebpf,
        })
    }

    /// Attaches both programs to `iface` (index `index`).
    fn attach(
        &mut self,
        iface: &str,
        index: u32,
        mode: XdpMode,
    ) -> Result<(), ClientDatapathError> {
        let xdp_error = |source| ClientDatapathError::AttachXdp {
            iface: iface.to_owned(),
            source,
        };
        let decap = program_mut::<Xdp>(&mut self.ebpf, DECAP_PROGRAM)?;
        let id = decap.attach_to_if_index(index, mode).map_err(xdp_error)?;
        self.xdp_links.push(decap.take_link(id).map_err(xdp_error)?);

        // A clsact qdisc for kernels without TCX links (before 6.6); harmless with them.
        match qdisc_add_clsact(iface) {
            Ok(()) => {}
            Err(TcError::NetlinkError(error)) if error.raw_os_error() == Some(libc::EEXIST) => {}
            Err(source) => {
                return Err(ClientDatapathError::Clsact {
                    iface: iface.to_owned(),
                    source,
                });
            }
        }
        let tc_error = |source| ClientDatapathError::AttachTc {
            iface: iface.to_owned(),
            source,
        };
        let encap = program_mut::<SchedClassifier>(&mut self.ebpf, ENCAP_PROGRAM)?;
        let id = encap
            .attach(iface, TcAttachType::Egress)
            .map_err(tc_error)?;
        self.tc_links.push(encap.take_link(id).map_err(tc_error)?);
        self.interfaces.push(iface.to_owned());
        Ok(())
    }

    /// The interfaces both programs are attached to, in attach order.
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Accepts IPv6-in-IPv6 from `anchor` (decapsulated by `client_decap`).
    pub fn set_anchor(&mut self, anchor: Ipv6Addr) -> Result<(), ClientDatapathError> {
        check_unicast("anchor", anchor)?;
        self.anchors
            .insert(anchor.octets(), 1, 0)
            .map_err(insert_error(CLIENT_ANCHORS))
    }

    /// Stops accepting IPv6-in-IPv6 from `anchor`. Returns whether it was accepted.
    pub fn remove_anchor(&mut self, anchor: Ipv6Addr) -> Result<bool, ClientDatapathError> {
        removed(self.anchors.remove(&anchor.octets()), CLIENT_ANCHORS)
    }

    /// The anchors whose IPv6-in-IPv6 is accepted.
    pub fn anchors(&self) -> Result<BTreeSet<Ipv6Addr>, ClientDatapathError> {
        self.anchors
            .keys()
            .map(|key| key.map(Ipv6Addr::from))
            .collect::<Result<_, _>>()
            .map_err(|source| ClientDatapathError::Map {
                operation: "list",
                name: CLIENT_ANCHORS,
                source,
            })
    }

    /// Sends the uplink of the /64 `prefix` (packets whose source is in it) through a tunnel
    /// from `coa` (the node's current address) to `anchor`. Replaces the /64's tunnel, if any.
    pub fn set_tunnel(
        &mut self,
        prefix: Ipv6Net,
        anchor: Ipv6Addr,
        coa: Ipv6Addr,
    ) -> Result<(), ClientDatapathError> {
        let key = tunnel_prefix_key(prefix)?;
        check_unicast("anchor", anchor)?;
        check_unicast("care-of address", coa)?;
        let value = ClientTunnel::new(anchor.octets(), coa.octets());
        self.tunnels
            .insert(key, value, 0)
            .map_err(insert_error(CLIENT_TUNNELS))
    }

    /// Stops tunnelling the uplink of the /64 `prefix`. Returns whether it was tunnelled.
    pub fn remove_tunnel(&mut self, prefix: Ipv6Net) -> Result<bool, ClientDatapathError> {
        let key = tunnel_prefix_key(prefix)?;
        removed(self.tunnels.remove(&key), CLIENT_TUNNELS)
    }

    /// The tunnelled /64s and their tunnels.
    pub fn tunnels(&self) -> Result<BTreeMap<Ipv6Net, TunnelEntry>, ClientDatapathError> {
        let mut tunnels = BTreeMap::new();
        for entry in &self.tunnels {
            let (key, value) = entry.map_err(|source| ClientDatapathError::Map {
                operation: "list",
                name: CLIENT_TUNNELS,
                source,
            })?;
            tunnels.insert(
                prefix_of_key(key),
                TunnelEntry {
                    anchor: Ipv6Addr::from(value.anchor),
                    coa: Ipv6Addr::from(value.coa),
                },
            );
        }
        Ok(tunnels)
    }

    /// Packets per counter ([`ClientCounter::name`]), summed over the CPUs; every counter is
    /// present.
    pub fn counters(&self) -> Result<BTreeMap<&'static str, u64>, ClientDatapathError> {
        ClientCounter::ALL
            .iter()
            .map(|&counter| {
                let values = self.counters.get(&(counter as u32), 0).map_err(|source| {
                    ClientDatapathError::Map {
                        operation: "read",
                        name: CLIENT_COUNTERS,
                        source,
                    }
                })?;
                Ok((counter.name(), values.iter().copied().sum()))
            })
            .collect()
    }

    /// The loaded `client_decap`, for `BPF_PROG_TEST_RUN` (`aya::programs::TestRun`).
    pub fn decap_program(&self) -> Result<&Xdp, ClientDatapathError> {
        match self.ebpf.program(DECAP_PROGRAM) {
            Some(Program::Xdp(program)) => Ok(program),
            _ => Err(ClientDatapathError::MissingProgram {
                name: DECAP_PROGRAM,
            }),
        }
    }

    /// The loaded `client_encap`, for `BPF_PROG_TEST_RUN` (`aya::programs::TestRun`).
    pub fn encap_program(&self) -> Result<&SchedClassifier, ClientDatapathError> {
        match self.ebpf.program(ENCAP_PROGRAM) {
            Some(Program::SchedClassifier(program)) => Ok(program),
            _ => Err(ClientDatapathError::MissingProgram {
                name: ENCAP_PROGRAM,
            }),
        }
    }
}

/// The program `name` of `ebpf` as a `P`.
fn program_mut<'a, P>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut P, ClientDatapathError>
where
    &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    ebpf.program_mut(name)
        .ok_or(ClientDatapathError::MissingProgram { name })?
        .try_into()
        .map_err(|source| ClientDatapathError::ProgramType { name, source })
}

/// Loads the program `name` of `ebpf` (a `P`) into the kernel with `load`.
fn load_program<P>(
    ebpf: &mut Ebpf,
    name: &'static str,
    load: fn(&mut P) -> Result<(), ProgramError>,
) -> Result<(), ClientDatapathError>
where
    for<'a> &'a mut P: TryFrom<&'a mut Program, Error = ProgramError>,
{
    let program = program_mut::<P>(ebpf, name)?;
    load(program).map_err(|error| match error {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let verifier_log = verifier_log.to_string();
            tracing::debug!("verifier output for {name}:\n{verifier_log}");
            ClientDatapathError::Verifier {
                name,
                source: io_error,
                verifier_log,
            }
        }
        source => ClientDatapathError::Load { name, source },
    })
}

fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, ClientDatapathError> {
    ebpf.take_map(name)
        .ok_or(ClientDatapathError::MissingMap { name })
}

/// The `CLIENT_TUNNELS` key of `prefix`, which must be a /64 of global or unique-local unicast
/// addresses (a link-scoped or multicast /64 is never a source the node tunnels).
fn tunnel_prefix_key(prefix: Ipv6Net) -> Result<[u8; 8], ClientDatapathError> {
    let invalid = |reason| ClientDatapathError::InvalidPrefix { prefix, reason };
    if prefix.prefix_len() != 64 {
        return Err(invalid("a tunnel covers exactly one /64"));
    }
    let network = prefix.network();
    if network.is_multicast() || network.is_unicast_link_local() || network.is_unspecified() {
        return Err(invalid(
            "not a /64 of global or unique-local unicast addresses",
        ));
    }
    Ok(tunnel_key(network.octets()))
}

/// The /64 a `CLIENT_TUNNELS` key stands for.
fn prefix_of_key(key: [u8; 8]) -> Ipv6Net {
    let mut octets = [0u8; 16];
    octets[..8].copy_from_slice(&key);
    Ipv6Net::new_assert(Ipv6Addr::from(octets), 64)
}

fn check_unicast(what: &'static str, addr: Ipv6Addr) -> Result<(), ClientDatapathError> {
    if addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || addr.is_unicast_link_local()
    {
        return Err(ClientDatapathError::InvalidAddress { what, addr });
    }
    Ok(())
}

fn errno(error: &MapError) -> Option<i32> {
    match error {
        MapError::SyscallError(SyscallError { io_error, .. }) => io_error.raw_os_error(),
        _ => None,
    }
}

fn insert_error(name: &'static str) -> impl FnOnce(MapError) -> ClientDatapathError {
    move |source| {
        if errno(&source) == Some(libc::E2BIG) {
            ClientDatapathError::MapFull { name }
        } else {
            ClientDatapathError::Map {
                operation: "write",
                name,
                source,
            }
        }
    }
}

/// The outcome of removing a key: whether it was there.
fn removed(result: Result<(), MapError>, name: &'static str) -> Result<bool, ClientDatapathError> {
    match result {
        Ok(()) => Ok(true),
        Err(MapError::KeyNotFound) => Ok(false),
        Err(error) if errno(&error) == Some(libc::ENOENT) => Ok(false),
        Err(source) => Err(ClientDatapathError::Map {
            operation: "delete from",
            name,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().expect("address")
    }

    fn net(s: &str) -> Ipv6Net {
        s.parse().expect("prefix")
    }

    fn syscall_error(errno: i32) -> MapError {
        MapError::SyscallError(SyscallError {
            call: "bpf_map_delete_elem",
            io_error: io::Error::from_raw_os_error(errno),
        })
    }

    #[test]
    fn a_tunnel_covers_one_unicast_64() {
        assert_eq!(
            tunnel_prefix_key(net("2001:db8:1:2::/64")).expect("a /64"),
            [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]
        );
        // Host bits are ignored: the key is the /64.
        assert_eq!(
            tunnel_prefix_key(net("2001:db8:1:2::77/64")).expect("a /64"),
            [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]
        );
        for bad in [
            "2001:db8:1::/48",
            "2001:db8:1:2::/80",
            "fe80::/64",
            "ff02::/64",
            "::/64",
        ] {
            assert!(
                matches!(
                    tunnel_prefix_key(net(bad)),
                    Err(ClientDatapathError::InvalidPrefix { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(
            prefix_of_key([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2]),
            net("2001:db8:1:2::/64")
        );
    }

    #[test]
    fn anchors_and_care_of_addresses_are_unicast() {
        assert!(check_unicast("anchor", addr("2001:db8::1")).is_ok());
        assert!(check_unicast("anchor", addr("fd00::1")).is_ok());
        for bad in ["::", "::1", "ff02::1", "fe80::1"] {
            assert!(
                matches!(
                    check_unicast("anchor", addr(bad)),
                    Err(ClientDatapathError::InvalidAddress { what: "anchor", .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn removing_a_missing_key_is_not_an_error() {
        assert!(removed(Ok(()), CLIENT_ANCHORS).expect("removed"));
        assert!(!removed(Err(MapError::KeyNotFound), CLIENT_ANCHORS).expect("missing"));
        assert!(!removed(Err(syscall_error(libc::ENOENT)), CLIENT_ANCHORS).expect("missing"));
        assert!(matches!(
            removed(Err(syscall_error(libc::EPERM)), CLIENT_ANCHORS),
            Err(ClientDatapathError::Map {
                name: CLIENT_ANCHORS,
                ..
            })
        ));
        assert!(matches!(
            insert_error(CLIENT_TUNNELS)(syscall_error(libc::E2BIG)),
            ClientDatapathError::MapFull {
                name: CLIENT_TUNNELS
            }
        ));
    }

    #[test]
    fn interfaces_are_checked_before_loading() {
        let lo = || "lo".to_owned();
        assert!(matches!(
            ClientDatapath::load(&[lo(), lo()]),
            Err(ClientDatapathError::DuplicateInterface { iface }) if iface == "lo"
        ));
        assert!(matches!(
            ClientDatapath::load(&["a/b".to_owned()]),
            Err(ClientDatapathError::InvalidInterfaceName { .. })
        ));
        assert!(matches!(
            ClientDatapath::load(&["nosuchif0".to_owned()]),
            Err(ClientDatapathError::UnknownInterface { .. })
        ));
    }

    #[test]
    fn privileged_client_maps_round_trip() {
        let mut dp = ClientDatapath::load_detached().expect("load the client programs");
        let counters = dp.counters().expect("counters");
        assert_eq!(counters.len(), ClientCounter::ALL.len());
        assert!(counters.values().all(|&n| n == 0));
        assert!(dp.interfaces().is_empty());

        let (a1, a2) = (addr("2001:db8:a::1"), addr("2001:db8:b::1"));
        dp.set_anchor(a1).expect("set anchor");
        dp.set_anchor(a2).expect("set anchor");
        dp.set_anchor(a1).expect("set an anchor again");
        assert_eq!(dp.anchors().expect("anchors"), BTreeSet::from([a1, a2]));
        assert!(dp.remove_anchor(a2).expect("remove anchor"));
        assert!(!dp.remove_anchor(a2).expect("remove a missing anchor"));
        assert_eq!(dp.anchors().expect("anchors"), BTreeSet::from([a1]));

        let (p, coa) = (net("2001:db8:a:1::/64"), addr("2001:db8:c:1::100"));
        dp.set_tunnel(p, a1, coa).expect("set tunnel");
        dp.set_tunnel(net("2001:db8:b:1::/64"), a2, coa)
            .expect("set tunnel");
        // Replacing the tunnel of a /64.
        dp.set_tunnel(p, a2, coa).expect("replace tunnel");
        let tunnels = dp.tunnels().expect("tunnels");
        assert_eq!(tunnels.len(), 2);
        assert_eq!(tunnels[&p], TunnelEntry { anchor: a2, coa });
        assert!(dp.remove_tunnel(p).expect("remove tunnel"));
        assert!(!dp.remove_tunnel(p).expect("remove a missing tunnel"));
        assert_eq!(
            dp.tunnels().expect("tunnels").keys().collect::<Vec<_>>(),
            [&net("2001:db8:b:1::/64")]
        );
        assert!(matches!(
            dp.set_tunnel(net("2001:db8:a::/48"), a1, coa),
            Err(ClientDatapathError::InvalidPrefix { .. })
        ));
    }

    /// Runs `ip ARGS` in the calling thread's network namespace and returns its output.
    fn ip(args: &str) -> String {
        let out = Command::new("ip")
            .args(args.split_whitespace())
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip {args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The TCX programs on the egress of `iface`.
    fn tcx_egress(iface: &str) -> usize {
        SchedClassifier::query_tcx(iface, TcAttachType::Egress)
            .expect("query tcx")
            .1
            .len()
    }

    #[test]
    fn privileged_client_programs_attach_to_every_interface_and_detach_on_drop() {
        // A network namespace of its own: the thread's, gone with the thread.
        std::thread::spawn(|| {
            // SAFETY: plain syscall; only this thread moves to the new namespace.
            assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare");
            ip("link add cn0 type veth peer name cn1");
            ip("link set cn0 up");
            ip("link set cn1 up");
            let ifaces = ["cn0".to_owned(), "cn1".to_owned()];
            let dp = ClientDatapath::load(&ifaces).expect("load and attach");
            assert_eq!(dp.interfaces(), ifaces);
            for iface in &ifaces {
                let link = ip(&format!("-d link show dev {iface}"));
                assert!(link.contains("xdp") && link.contains("prog/xdp"), "{link}");
                assert_eq!(tcx_egress(iface), 1, "{iface}");
            }
            // A second load on the same interfaces fails and leaves the first attached.
            assert!(matches!(
                ClientDatapath::load(&ifaces),
                Err(ClientDatapathError::AttachXdp { .. })
            ));
            assert_eq!(tcx_egress("cn0"), 1);
            drop(dp);
            for iface in &ifaces {
                let link = ip(&format!("-d link show dev {iface}"));
                assert!(!link.contains("prog/xdp"), "{link}");
                assert_eq!(tcx_egress(iface), 0, "{iface}");
            }
        })
        .join()
        .expect("the namespace thread");
    }
}
