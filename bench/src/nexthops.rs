//! Filling the next-hop cache the way the daemon does: its resolver, run once in the calling
//! thread's network namespace, so that the measured paths send with the cached next hop.

use anchor_user::{datapath::Datapath, routing::NextHopResolver};
use anyhow::{Context as _, Result, ensure};

/// Resolves the next hop of every peer `dp` uses (routes and neighbours of the calling
/// thread's namespace) and writes `NEXTHOPS`; every peer must get a valid entry.
pub fn resolve(dp: &Datapath) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime for the next-hop resolver")?;
    let resolved = runtime.block_on(async {
        let mut resolver = NextHopResolver::new(dp.next_hop_cache()?)?;
        resolver.resolve_once().await.map_err(anyhow::Error::from)
    })?;
    ensure!(
        resolved.unusable.is_empty() && resolved.valid > 0,
        "the next-hop resolver left peers without an entry: {:?}",
        resolved.unusable
    );
    Ok(())
}
