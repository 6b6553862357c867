//! Prometheus metrics: read from the maps at scrape time and served over HTTP at `/metrics`.
//!
//! - `source.rs`: [`MetricsSource`], what a scrape reads (the binding table and its datapath, or
//!   a fake in tests); `snapshot.rs`: [`Snapshot`], what one scrape saw.
//! - `select.rs`: [`BindingSelector`], which bindings get series of their own.
//! - `exposition.rs`: a snapshot as Prometheus text or OpenMetrics (prometheus-client).
//! - `signaling.rs`: the signaling metrics of the CMD and the MAAR role (`anchor-pmip`'s
//!   `SignalingMetrics`) as families.
//! - `scrape.rs`: [`Scrape`], what one endpoint shows: [`MapsScrape`] (`anchor run`: the maps,
//!   and the MAAR's signaling) or [`SignalingScrape`] (`anchor cmd`).
//! - `server.rs`: [`MetricsListener`], the HTTP endpoint (hyper), and [`Exporter`].
//! - `error.rs`: [`MetricsError`].
//!
//! The metrics (`N` is `metrics_binding_labels_max`):
//!
//! | Metric | Type | Labels |
//! |---|---|---|
//! | `anchor_packets_total`, `anchor_bytes_total` | counter | `reason`: every fast-path counter, summed over CPUs |
//! | `anchor_binding_packets_total`, `anchor_binding_bytes_total` | counter | `prefix`, `direction` (`to_mn`, `from_mn`): at most `N` bindings |
//! | `anchor_bindings` | gauge | `kind` (`redirect`, `visiting`) |
//! | `anchor_bindings_not_exported` | gauge | bindings without series of their own (beyond `N`) |
//! | `anchor_map_entries`, `anchor_map_max_entries` | gauge | `map` (`bindings`, `short_prefixes`, `binding_stats`) |
//! | `anchor_build_info` | gauge (info) | `version` |
//! | `anchor_signaling_messages_total` | counter | `role` (`cmd`, `maar`), `direction` (`sent`, `received`), `type` (`pbu`, `pba`), `status` (PBAs) |
//! | `anchor_signaling_retransmissions_total`, `anchor_signaling_given_up_total`, `anchor_signaling_dropped_total` | counter | `role` |
//! | `anchor_idle_releases_total`, `anchor_router_advertisements_total` | counter | `role` (`maar`) |
//! | `anchor_signaling_nodes` | gauge | `role`, `phase` |
//! | `anchor_signaling_prefixes` | gauge | `role`, `policy`, `phase` |
//! | `anchor_signaling_updates_outstanding` | gauge | `role` (`cmd`) |
//! | `anchor_signaling_pbu_to_pba_seconds` | histogram | `role` |
//! | `anchor_attachment_to_binding_seconds` | histogram | `role` (`maar`) |
//! | `anchor_store_write_seconds` | histogram | `role` (`cmd`) |

mod error;
mod exposition;
#[cfg(test)]
mod fake;
mod scrape;
mod select;
mod server;
mod signaling;
mod snapshot;
mod source;

pub use error::MetricsError;
pub use exposition::{Format, encode};
pub use scrape::{MapsScrape, Scrape, SignalingScrape};
pub use select::BindingSelector;
pub use server::{Exporter, MetricsListener};
pub use snapshot::{Capacity, ExportedBinding, Snapshot};
pub use source::MetricsSource;

/// The default `metrics_listen`: localhost only.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9469";
/// The default `metrics_binding_labels_max`.
pub const DEFAULT_BINDING_LABELS_MAX: u32 = 1000;
