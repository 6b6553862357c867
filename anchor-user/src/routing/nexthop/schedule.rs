//! When the next-hop resolver resolves: at once, then [`DEBOUNCE`] after a relevant rtnetlink
//! event ([`super::events::relevant`]) or a change of the peers in use, every
//! [`REFRESH`], and by [`RETRY`] after a failed round. The rounds and the event sources are the
//! caller's ([`Rounds`]); the timers are tokio's, so that tests can drive them with a paused
//! clock.

use std::{future::Future, net::Ipv6Addr, time::Duration};

use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;

use super::events;

/// How long the resolver waits after an event for more to come before resolving.
pub const DEBOUNCE: Duration = Duration::from_millis(5);
/// How often every peer is resolved again without any event.
pub const REFRESH: Duration = Duration::from_secs(30);
/// How soon a resolution that failed (a netlink error) is tried again.
pub const RETRY: Duration = Duration::from_secs(1);

/// How a round went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Round {
    Done,
    /// Try again by [`RETRY`].
    Failed,
}

/// What woke the resolver between rounds.
pub(super) enum Wake {
    /// The peers in use changed.
    Peers,
    /// An rtnetlink event.
    Event(NetlinkMessage<RouteNetlinkMessage>),
    /// The datapath or the rtnetlink socket is gone: stop.
    Closed,
}

/// The resolver as the schedule drives it.
pub(super) trait Rounds {
    /// Resolves every peer in use (and reports it).
    fn round(&mut self) -> impl Future<Output = Round>;
    /// Drops the events queued so far: the round about to run sees their effect.
    fn discard_queued_events(&mut self);
    /// Waits for the next peer change or event. Cancel-safe.
    fn wake(&mut self) -> impl Future<Output = Wake>;
    /// The (ifindex, address) of the next hops last resolved, sorted: the neighbour events that
    /// matter.
    fn watched(&self) -> &[(u32, Ipv6Addr)];
}

/// Runs rounds when they are due until `stop` completes or [`Rounds::wake`] says
/// [`Wake::Closed`].
pub(super) async fn schedule(rounds: &mut impl Rounds, stop: impl Future<Output = ()>) {
    let mut stop = std::pin::pin!(stop);
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate.
    refresh.tick().await;
    let mut due = true;
    // When a failed round is tried again: a deadline, not a timer restarted by every event, so
    // that a stream of irrelevant events does not put it off.
    let mut retry_at = None;
    loop {
        if due {
            // Let a burst of events settle.
            tokio::time::sleep(DEBOUNCE).await;
            rounds.discard_queued_events();
            retry_at = match rounds.round().await {
                Round::Done => None,
                Round::Failed => Some(tokio::time::Instant::now() + RETRY),
            };
        }
        due = tokio::select! {
            () = &mut stop => break,
            wake = rounds.wake() => match wake {
                Wake::Peers => true,
                Wake::Event(message) => events::relevant(&message, rounds.watched()),
                Wake::Closed => break,
            },
            _ = refresh.tick() => true,
            () = async {
                match retry_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => true,
        };
    }
}

#[cfg(test)]
mod tests {
    //! The schedule on tokio's paused clock: time advances only when every task waits, straight
    //! to the next timer, so the instants of the rounds are exact.

    use std::{net::Ipv6Addr, time::Duration};

    use futures::{StreamExt as _, channel::mpsc};
    use tokio::time::Instant;

    use super::{DEBOUNCE, REFRESH, RETRY, Round, Rounds, Wake, schedule};
    use crate::routing::nexthop::events::sample;

    const NEXT_HOP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 2);
    const OTHER: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x77);

    /// Records when each round ran (since `start`); fails the rounds listed in `fail` (by
    /// number, from 0); wakes with what the test sends.
    struct Recorder {
        start: Instant,
        rounds: Vec<Duration>,
        fail: Vec<usize>,
        wakes: mpsc::UnboundedReceiver<Wake>,
        watched: Vec<(u32, Ipv6Addr)>,
    }

    impl Rounds for Recorder {
        async fn round(&mut self) -> Round {
            let number = self.rounds.len();
            self.rounds.push(self.start.elapsed());
            if self.fail.contains(&number) {
                Round::Failed
            } else {
                Round::Done
            }
        }

        fn discard_queued_events(&mut self) {}

        async fn wake(&mut self) -> Wake {
            match self.wakes.next().await {
                Some(wake) => wake,
                // The test sends nothing more: only the timers wake the schedule.
                None => std::future::pending().await,
            }
        }

        fn watched(&self) -> &[(u32, Ipv6Addr)] {
            &self.watched
        }
    }

    /// Runs the schedule for `duration` of paused time, failing the rounds in `fail`, with
    /// `events` sent at their offsets from the start; returns when each round ran.
    async fn rounds_during(
        duration: Duration,
        fail: &[usize],
        events: Vec<(Duration, Wake)>,
    ) -> Vec<Duration> {
        let start = Instant::now();
        let (sender, wakes) = mpsc::unbounded();
        let mut recorder = Recorder {
            start,
            rounds: Vec::new(),
            fail: fail.to_vec(),
            wakes,
            watched: vec![(5, NEXT_HOP)],
        };
        let feeder = tokio::spawn(async move {
            for (at, wake) in events {
                tokio::time::sleep_until(start + at).await;
                sender
                    .unbounded_send(wake)
                    .expect("the schedule is running");
            }
            // Keep the channel open: a closed one would read as pending anyway.
            std::future::pending::<()>().await;
        });
        schedule(&mut recorder, tokio::time::sleep(duration)).await;
        feeder.abort();
        recorder.rounds
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[tokio::test(start_paused = true)]
    async fn without_events_it_resolves_once_then_every_refresh() {
        let rounds = rounds_during(
            (REFRESH * 3).checked_sub(secs(1.0)).unwrap(),
            &[],
            Vec::new(),
        )
        .await;
        assert_eq!(
            rounds,
            [DEBOUNCE, REFRESH + DEBOUNCE, REFRESH * 2 + DEBOUNCE],
            "one round at the start, then one per {REFRESH:?} with no event"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_round_is_tried_again_by_its_deadline() {
        // Irrelevant events every 100 ms (a neighbour that is no next hop) must not put the
        // retry off.
        let noise = (1..50)
            .map(|i| (secs(0.1) * i, Wake::Event(sample::neighbour(5, OTHER))))
            .collect();
        let rounds = rounds_during(secs(10.0), &[0], noise).await;
        assert_eq!(
            rounds,
            [DEBOUNCE, DEBOUNCE + RETRY + DEBOUNCE],
            "the failed first round is tried again {RETRY:?} after it, and not again until the \
             refresh"
        );
        // A round that keeps failing is tried every RETRY.
        let rounds = rounds_during(secs(3.5), &[0, 1, 2], Vec::new()).await;
        let step = RETRY + DEBOUNCE;
        assert_eq!(
            rounds,
            [
                DEBOUNCE,
                DEBOUNCE + step,
                DEBOUNCE + step * 2,
                DEBOUNCE + step * 3
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_overrun_makes_it_resolve_again() {
        let rounds = rounds_during(
            secs(10.0),
            &[],
            vec![
                // Not a next hop's neighbour: no round.
                (secs(1.0), Wake::Event(sample::neighbour(5, OTHER))),
                (secs(2.0), Wake::Event(sample::overrun())),
            ],
        )
        .await;
        assert_eq!(rounds, [DEBOUNCE, secs(2.0) + DEBOUNCE]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_rule_change_makes_it_resolve_again() {
        let rounds = rounds_during(
            secs(10.0),
            &[],
            vec![
                (secs(2.0), Wake::Event(sample::new_rule())),
                (secs(4.0), Wake::Event(sample::del_rule())),
            ],
        )
        .await;
        assert_eq!(
            rounds,
            [DEBOUNCE, secs(2.0) + DEBOUNCE, secs(4.0) + DEBOUNCE]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn routes_watched_neighbours_and_peer_changes_make_it_resolve_again() {
        let rounds = rounds_during(
            secs(10.0),
            &[],
            vec![
                (secs(1.0), Wake::Event(sample::new_route())),
                (secs(2.0), Wake::Event(sample::neighbour(5, NEXT_HOP))),
                (secs(3.0), Wake::Peers),
            ],
        )
        .await;
        assert_eq!(
            rounds,
            [
                DEBOUNCE,
                secs(1.0) + DEBOUNCE,
                secs(2.0) + DEBOUNCE,
                secs(3.0) + DEBOUNCE
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn it_stops_when_the_sources_close() {
        let (sender, wakes) = mpsc::unbounded();
        let mut recorder = Recorder {
            start: Instant::now(),
            rounds: Vec::new(),
            fail: Vec::new(),
            wakes,
            watched: Vec::new(),
        };
        sender.unbounded_send(Wake::Closed).expect("send");
        schedule(&mut recorder, std::future::pending()).await;
        assert_eq!(recorder.rounds, [DEBOUNCE]);
    }
}
