//! What the MAAR service does beside the signaling: sampling the packet counts of the
//! redirects released on idle, taking a saved state back at start (adding only the routes and
//! bindings missing from the router's adopted bindings) and saving the state at every change.

use std::path::{Path, PathBuf};

use crate::{
    engine::{Action, MaarEngine},
    persist::{self, MaarState, PersistError},
    port::RouterPort,
};
use anchor_pmip::{Now, Outgoing, error_chain};

/// Feeds the engine the packet counts (both directions) of the redirects it watches for
/// idleness. A redirect without a binding in the router gets no observation, so it idles out.
pub async fn sample_traffic<P: RouterPort>(engine: &mut MaarEngine, router: &P) {
    let watched = engine.idle_watched();
    if watched.is_empty() {
        return;
    }
    let now = Now::system();
    for prefix in watched {
        let Some(packets) = router.binding_packets(prefix).await else {
            continue;
        };
        match packets {
            Ok(packets) => engine.observe_traffic(now, prefix, packets),
            Err(error) => tracing::warn!(
                "cannot read the counters of {prefix}: {}",
                error_chain(&error)
            ),
        }
    }
}

/// The saved state, taken back at start: the messages it sends (the nodes' registrations
/// again) and the routes and bindings it implies.
pub struct Restored {
    pub state_file: PathBuf,
    pub out: Vec<Outgoing>,
    pub actions: Vec<Action>,
}

/// Loads the state at `path` into `engine` (which has done nothing yet). An unreadable or
/// corrupt file is an error; an absent one an empty state.
pub fn restore(engine: &mut MaarEngine, path: &Path) -> Result<Restored, PersistError> {
    let state = persist::load(path)?;
    persist::prepare(path)?;
    let (served, anchored) = (state.served.len(), state.anchored.len());
    let (mut out, mut actions) = (Vec::new(), Vec::new());
    engine.restore(Now::system(), state, &mut out, &mut actions);
    if served + anchored > 0 {
        tracing::info!(
            "restored {served} served node(s) and {anchored} anchored prefix(es) from {}",
            path.display()
        );
    }
    Ok(Restored {
        state_file: path.to_owned(),
        out,
        actions,
    })
}

/// Of the restored `actions`, those the router's adopted bindings lack: a binding already there
/// as it should be is left alone, one of another kind replaced. Routes all stay (adding an
/// existing one is harmless).
pub async fn missing<P: RouterPort>(actions: Vec<Action>, router: &P) -> Vec<Action> {
    let mut missing = Vec::new();
    for action in actions {
        match &action {
            Action::AddBinding { prefix, kind } => match router.binding(*prefix).await {
                Some(binding) if binding == *kind => {
                    tracing::debug!("restored binding for {prefix} is in place");
                }
                Some(_) => {
                    missing.push(Action::RemoveBinding { prefix: *prefix });
                    missing.push(action);
                }
                None => missing.push(action),
            },
            _ => missing.push(action),
        }
    }
    missing
}

/// Saves the engine's state when it changed since the last save.
pub struct Saver {
    path: PathBuf,
    saved: Option<MaarState>,
}

impl Saver {
    pub fn new(path: PathBuf) -> Self {
        Self { path, saved: None }
    }

    pub fn save_if_changed(&mut self, engine: &MaarEngine) {
        let state = engine.snapshot();
        if self.saved.as_ref() == Some(&state) {
            return;
        }
        match persist::save(&self.path, &state) {
            Ok(()) => self.saved = Some(state),
            Err(error) => {
                // Logged once per change; tried again at the next one.
                self.saved = Some(state);
                tracing::error!("{}", error_chain(&error));
            }
        }
    }
}
