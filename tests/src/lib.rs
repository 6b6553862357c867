//! Support for the privileged tests: a fixture network namespace, an independent packet builder
//! (etherparse) and a BPF_PROG_TEST_RUN driver with counter deltas.

pub mod fixture;
pub mod flow;
pub mod flow_label;
pub mod grown;
pub mod hostile;
pub mod maar;
pub mod netns;
pub mod packet;
pub mod scenario;
pub mod support;
pub mod xdp;
