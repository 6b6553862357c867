//! The engine's durable state: [`MaarEngine::snapshot`] for the service to save at every
//! change, [`MaarEngine::restore`] at start.

use std::time::Duration;

use anchor_pmip::{MnKey, Now, Outgoing};
use anchor_signal::{HandoffIndicator, Timestamp};

use super::{Action, Anchored, MaarEngine, Phase, Served};
use crate::{
    persist::{
        MaarState, SavedAnchored, SavedCmdUpdate, SavedServed, SavedSubscribed, SavedVisiting,
    },
    port::MaarBindingKind,
};

impl MaarEngine {
    /// The state to save: what a restarted engine needs to go on.
    pub fn snapshot(&self) -> MaarState {
        MaarState {
            next_sequence: self.next_sequence,
            // A node that came back and is not registered again yet is saved as it was:
            // anchored here and redirected.
            served: self
                .served
                .iter()
                .filter(|(_, s)| s.reclaimed.is_none())
                .map(|(mn, s)| SavedServed {
                    mn: MnKey::from(mn),
                    dev: s.dev.clone(),
                    prefix: s.prefix,
                    policy: s.policy,
                    phase: s.phase,
                    route: s.route,
                    visiting: s
                        .visiting
                        .iter()
                        .map(|(prefix, home)| SavedVisiting {
                            prefix: *prefix,
                            home: *home,
                        })
                        .collect(),
                    relocated: s.relocated.iter().copied().collect(),
                })
                .collect(),
            anchored: self
                .anchored
                .iter()
                .chain(
                    self.served
                        .values()
                        .filter_map(|s| s.reclaimed.as_ref().map(|a| (&s.prefix, a))),
                )
                .map(|(prefix, a)| SavedAnchored {
                    prefix: *prefix,
                    mn: MnKey::from(&a.mn),
                    serving: a.serving,
                    policy: a.policy,
                    client: a.client_expires.is_some(),
                })
                .collect(),
            last_cmd: self
                .last_cmd
                .iter()
                .map(|(mn, (timestamp, sequence))| SavedCmdUpdate {
                    mn: MnKey::from(mn),
                    timestamp: timestamp.0,
                    sequence: *sequence,
                })
                .collect(),
            subscribed: self
                .subscribed
                .iter()
                .map(|(prefix, (mn, serving))| SavedSubscribed {
                    prefix: *prefix,
                    mn: MnKey::from(mn),
                    serving: *serving,
                })
                .collect(),
            lent: self.lent.iter().copied().collect(),
            last_client: self
                .last_client
                .iter()
                .map(|(mn, timestamp)| SavedCmdUpdate {
                    mn: MnKey::from(mn),
                    timestamp: timestamp.0,
                    sequence: 0,
                })
                .collect(),
        }
    }

    /// Takes `state` back (into an engine that has done nothing yet): each served node is
    /// registered again at once (a refresh; a pending registration or de-registration is sent
    /// again), and `actions` asks for the routes and bindings the state implies (the service
    /// adds only those missing). An entry whose prefix is in no pool, or whose interface is no
    /// access interface, is left out with a warning.
    #[expect(
        clippy::too_many_lines,
        reason = "each part of the saved state taken back in turn"
    )]
    pub fn restore(
        &mut self,
        now: Now,
        state: MaarState,
        out: &mut Vec<Outgoing>,
        actions: &mut Vec<Action>,
    ) {
        self.next_sequence = state.next_sequence.max(1);
        self.last_cmd = state
            .last_cmd
            .into_iter()
            .map(|u| (u.mn.to_mn_id(), (Timestamp(u.timestamp), u.sequence)))
            .collect();
        self.last_client = state
            .last_client
            .into_iter()
            .map(|u| (u.mn.to_mn_id(), Timestamp(u.timestamp)))
            .collect();
        for prefix in state.lent {
            if self.pools.iter_mut().any(|p| p.mark_used(&prefix)) {
                self.lent.insert(prefix);
            } else {
                tracing::warn!(
                    "saved state: lent {prefix} is in no [[maar.pool]] (or twice): left out"
                );
            }
        }
        for saved in state.subscribed {
            if !self.subscriber {
                tracing::warn!(
                    "saved state: {} is redirected as a subscriber, and subscriber is off now: \
                     left out",
                    saved.prefix
                );
                continue;
            }
            actions.push(Action::AddBinding {
                prefix: saved.prefix,
                kind: MaarBindingKind::Redirect {
                    serving: saved.serving,
                },
            });
            self.subscribed
                .insert(saved.prefix, (saved.mn.to_mn_id(), saved.serving));
        }
        for saved in state.anchored {
            let prefix = saved.prefix;
            if !self.pools.iter_mut().any(|p| p.mark_used(&prefix)) {
                tracing::warn!("saved state: {prefix} is in no [[maar.pool]] (or twice): left out");
                continue;
            }
            actions.push(Action::AddBinding {
                prefix,
                kind: MaarBindingKind::Redirect {
                    serving: saved.serving,
                },
            });
            // A node's own redirect lasts one lifetime from now, unless refreshed.
            let client_expires = saved.client.then(|| now.instant + self.lifetime);
            let idle_release = if saved.client {
                None
            } else {
                self.idle_release_of(&prefix)
            };
            self.anchored.insert(
                prefix,
                Anchored {
                    mn: saved.mn.to_mn_id(),
                    serving: saved.serving,
                    policy: saved.policy,
                    idle_release,
                    // The counters went on while the daemon was down: the first observation
                    // only sets the base.
                    packets: None,
                    active_at: now.instant,
                    releasing: None,
                    client_expires,
                },
            );
        }
        for saved in state.served {
            let mn = saved.mn.to_mn_id();
            let prefix = saved.prefix;
            if !self.access.contains(&saved.dev) {
                tracing::warn!(
                    "saved state: {mn} was served on {}, not an access interface now: left out",
                    saved.dev
                );
                continue;
            }
            if !self.pools.iter_mut().any(|p| p.mark_used(&prefix)) {
                tracing::warn!("saved state: {prefix} is in no [[maar.pool]] (or twice): left out");
                continue;
            }
            if saved.route {
                actions.push(Action::AddRoute {
                    prefix,
                    dev: saved.dev.clone(),
                    mac: mn.mac(),
                });
            }
            for prefix in &saved.relocated {
                // One of this MAAR's own /64s, back with its node: held again (a foreign one
                // is in no pool).
                self.pools.iter_mut().any(|p| p.mark_used(prefix));
                actions.push(Action::AddRoute {
                    prefix: *prefix,
                    dev: saved.dev.clone(),
                    mac: mn.mac(),
                });
            }
            for v in &saved.visiting {
                actions.push(Action::AddBinding {
                    prefix: v.prefix,
                    kind: self.visiting_kind(
                        v.home,
                        saved.relocated.contains(&v.prefix),
                        &saved.dev,
                        &mn,
                    ),
                });
            }
            let lifetime = match saved.phase {
                Phase::Deregistering => Duration::ZERO,
                Phase::Registering | Phase::Registered => self.lifetime,
            };
            // A node registered before the restart is re-registered ("not changed"), which the
            // CMD refuses, and answers with its update, when the node moved meanwhile.
            let handoff = match saved.phase {
                Phase::Registering => HandoffIndicator::UNKNOWN,
                Phase::Registered | Phase::Deregistering => HandoffIndicator::NOT_CHANGED,
            };
            let (sequence, phase) = if self.standalone() {
                tracing::info!("restored {mn} on {} with {prefix}", saved.dev);
                (0, Phase::Registered)
            } else {
                tracing::info!(
                    "restored {mn} on {} with {prefix}: registering again",
                    saved.dev
                );
                (
                    self.send_pbu(now, &mn, prefix, lifetime, handoff, out),
                    saved.phase,
                )
            };
            self.served.insert(
                mn,
                Served {
                    dev: saved.dev,
                    prefix,
                    policy: saved.policy,
                    phase,
                    sequence,
                    refresh_at: None,
                    // Until the CMD answers the refresh: one lifetime from now.
                    expires_at: (phase == Phase::Registered && !self.standalone())
                        .then(|| now.instant + self.lifetime),
                    route: saved.route,
                    visiting: saved
                        .visiting
                        .into_iter()
                        .map(|v| (v.prefix, v.home))
                        .collect(),
                    relocated: saved.relocated.into_iter().collect(),
                    reclaimed: None,
                },
            );
        }
    }
}
