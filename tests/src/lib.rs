//! Support for the privileged tests: the fixture namespace and addresses, an independent packet
//! builder (etherparse) and a BPF_PROG_TEST_RUN driver with counter deltas.

pub mod fixture;
pub mod flow_label;
pub mod hostile;
pub mod maar;
pub mod packet;
pub mod scenario;
pub mod support;
pub mod xdp;
