//! What one metrics endpoint shows: [`Scrape`], for `anchor run` ([`MapsScrape`]: the maps and
//! the MAAR role's signaling) and `anchor cmd` ([`SignalingScrape`]).

use std::{future::Future, sync::Arc};

use anchor_pmip::signaling_metrics::SignalingMetrics;
use tokio::sync::Mutex;

use super::{
    error::MetricsError,
    exposition::{Format, encode},
    server::Exporter,
    source::MetricsSource,
};

/// Reads the state behind one endpoint and encodes it.
pub trait Scrape: Send + Sync + 'static {
    fn scrape(&self, format: Format) -> impl Future<Output = Result<String, MetricsError>> + Send;
}

/// `anchor run`'s metrics: the maps read through `source`, and the signaling of the MAAR role
/// when the exporter has it.
pub struct MapsScrape<S> {
    pub source: Arc<Mutex<S>>,
    pub exporter: Exporter,
}

impl<S: MetricsSource + Send + 'static> Scrape for MapsScrape<S> {
    fn scrape(&self, format: Format) -> impl Future<Output = Result<String, MetricsError>> + Send {
        self.exporter.scrape(&self.source, format)
    }
}

/// What reads the signaling metrics as of the service loop's last turn.
pub type SignalingRead = Box<dyn Fn() -> SignalingMetrics + Send + Sync>;

/// `anchor cmd`'s metrics: the signaling alone.
pub struct SignalingScrape(pub SignalingRead);

impl Scrape for SignalingScrape {
    fn scrape(&self, format: Format) -> impl Future<Output = Result<String, MetricsError>> + Send {
        let text = encode(None, Some((self.0)()), format).map_err(MetricsError::Encode);
        std::future::ready(text)
    }
}
