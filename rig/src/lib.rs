//! The network-namespace rig that `cargo xtask demo` and the end-to-end tests share, and what runs
//! in it: `anchor run` daemons, other processes that stop when dropped, the `anchor` CLI.
//!
//! It drives the system's tools (`ip`, `ethtool`, `sysctl`, `ss`, `kill`) and the `anchor` binary
//! whose path the caller passes in, so that it builds without aya or the eBPF toolchain: the xtask
//! depends on it and must compile before bpf-linker is installed.
//!
//! - [`topology`]: [`Rig`], five namespaces (correspondent, two routers, a core switch, mobile
//!   node) with a caller-chosen name prefix, and the mobile node's move.
//! - [`daemon`]: [`Daemon`], one router's `anchor run`, and the CLI against its socket.
//! - [`process`]: [`Proc`], a child process stopped on drop; waiting for listeners.
//! - [`charon`]: strongSwan's IKE daemon in a namespace.
//! - [`bpf`]: tiny XDP programs by raw `bpf()` calls (the doctor's probes, the rig's pass
//!   programs).
//! - [`cancel`]: the Ctrl-C flag every wait checks.
//! - [`workdir`]: [`WorkDir`], a temporary directory for configs, logs and captures.
//! - [`cmd`]: running commands with good errors.
//! - [`netns`]: [`Netns`], one namespace deleted on drop, entered per thread.
//! - [`fixture_net`]: [`FixtureNet`], the two-veth namespace of the BPF_PROG_TEST_RUN fixture
//!   tests and benchmarks.
//! - [`probe`]: what this machine can do (`cargo xtask doctor`).
//! - [`control`]: the control plane on the rig: the CMD, the routers as MAARs, the mobile node
//!   as a SLAAC host.
//! - [`grown`]: [`grown::Grown`], a topology read from a TOML file: a correspondent, a core
//!   router, access routers AR1..ARn running MAARs, the CMD, and mobile nodes.

pub mod bpf;
pub mod cancel;
pub mod charon;
pub mod cmd;
pub mod control;
pub mod daemon;
pub mod etcd;
pub mod fixture_net;
pub mod grown;
pub mod netns;
pub mod probe;
pub mod process;
pub mod topology;
pub mod udp_stream;
pub mod workdir;

pub use daemon::{Daemon, Router};
pub use fixture_net::FixtureNet;
pub use netns::Netns;
pub use process::Proc;
pub use topology::{Node, Rig};
pub use workdir::WorkDir;
