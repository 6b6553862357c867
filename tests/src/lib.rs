//! Support for the privileged tests: the fixture namespace and addresses and a BPF_PROG_TEST_RUN
//! driver with counter deltas. Their frames come from `anchor-packet`.

pub mod capture;
pub mod client;
pub mod cmd_net;
pub mod etcd;
pub mod fixture;
pub mod flow;
pub mod flow_label;
pub mod grown;
pub mod hostile;
pub mod maar;
pub mod prometheus;
pub mod roam;
pub mod scenario;
pub mod scrape;
pub mod support;
pub mod traffic;
pub mod tunnel;
pub mod veth_pair;
pub mod xdp;
