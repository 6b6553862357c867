//! [`Leadership`]: which of the CMD instances sharing one etcd answers. Each campaigns for the
//! key `PREFIX/leader`: it creates the key, with its instance name as the value, bound to a lease
//! of its own, only where no key exists. The one that created it leads while it keeps the lease
//! alive; the others try again every quarter of the lease.
//!
//! A leader that cannot renew its lease (etcd gone, quorum lost, the process paused) stops
//! leading at the end of the last lease it saw granted, counted from before it asked: never later
//! than etcd itself lets the key go. A paused leader that wakes up after that still holds an old
//! [`Fence`]; its writes compare the key's creation revision with the fence's, and fail, since the
//! next leader created the key anew (see [`crate::EtcdStore`]).
//!
//! The client runs on a thread of its own; its state is published on a [`watch`] channel.

use std::{
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use etcd_client::{
    Client, Compare, CompareOp, LeaseKeepAliveStream, LeaseKeeper, PutOptions, Txn, TxnOp,
    TxnOpResponse,
};
use tokio::sync::watch;

use crate::etcd_store::{EtcdLocation, retried, timed};

/// What a leader's writes must compare: the leader key and the revision that created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: String,
    pub create_revision: i64,
}

/// This instance's part, as the campaign last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Another instance leads (its name, when known), or etcd cannot be reached.
    Standby { leader: Option<String> },
    /// This instance leads until `until`, unless the lease is renewed before.
    Leader { fence: Fence, until: Instant },
}

impl Role {
    /// Whether this instance leads at `now`.
    pub fn leads(&self, now: Instant) -> bool {
        matches!(self, Self::Leader { until, .. } if *until > now)
    }
}

/// The campaign, running until dropped; dropping a leader revokes its lease, so that a standby
/// takes over at once rather than after the lease.
pub struct Leadership {
    role: watch::Receiver<Role>,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("role", &*self.role.borrow())
            .finish_non_exhaustive()
    }
}

/// The leader key under `prefix`.
pub fn leader_key(location: &EtcdLocation) -> String {
    format!("{}/leader", location.prefix)
}

impl Leadership {
    /// Starts campaigning as `name` with a lease of `ttl` (whole seconds, at least one).
    pub fn start(
        location: &EtcdLocation,
        name: String,
        ttl: Duration,
    ) -> Result<Self, std::io::Error> {
        let (role_tx, role) = watch::channel(Role::Standby { leader: None });
        let (stop, stopped) = mpsc::channel();
        let campaign = Campaign {
            endpoints: location.endpoints.clone(),
            key: leader_key(location),
            name,
            ttl_s: i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX),
            role: role_tx,
            stopped,
        };
        let thread = std::thread::Builder::new()
            .name("etcd-leader".to_owned())
            .spawn(move || {
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(campaign.run()),
                    Err(error) => tracing::error!("cannot run the leadership campaign: {error}"),
                }
            })?;
        Ok(Self {
            role,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The role, as it changes.
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Campaign {
    endpoints: Vec<String>,
    key: String,
    name: String,
    ttl_s: i64,
    role: watch::Sender<Role>,
    stopped: mpsc::Receiver<()>,
}

/// How a term ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Campaign {
    fn stop_requested(&self) -> bool {
        !matches!(self.stopped.try_recv(), Err(mpsc::TryRecvError::Empty))
    }

    fn ttl(&self) -> Duration {
        Duration::from_secs(self.ttl_s.unsigned_abs())
    }

    fn publish(&self, role: Role) {
        self.role.send_if_modified(|old| {
            let changed = *old != role;
            *old = role;
            changed
        });
    }

    async fn run(self) {
        let retry = self.ttl() / 4;
        let mut client: Option<Client> = None;
        while !self.stop_requested() {
            if client.is_none() {
                match timed(Client::connect(self.endpoints.clone(), None)).await {
                    Ok(c) => client = Some(c),
                    Err(error) => {
                        tracing::warn!("leadership: cannot reach etcd: {error}");
                        self.publish(Role::Standby { leader: None });
                    }
                }
            }
            if let Some(c) = client.as_mut() {
                match self.campaign_once(c).await {
                    Ok(Some((lease, fence, until))) => {
                        tracing::info!(
                            "leadership: {} leads (key {}, created at revision {})",
                            self.name,
                            fence.key,
                            fence.create_revision
                        );
                        self.publish(Role::Leader {
                            fence: fence.clone(),
                            until,
                        });
                        let ended = self.hold(c, lease, fence, until).await;
                        self.publish(Role::Standby { leader: None });
                        // Best effort: the key goes now rather than at the lease's end.
                        let _ = timed(c.lease_revoke(lease)).await;
                        match ended {
                            Ended::Stopped => return,
                            Ended::Lost(reason) => {
                                tracing::warn!("leadership: {} lost it: {reason}", self.name);
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!("leadership: etcd: {error}");
                        self.publish(Role::Standby { leader: None });
                        client = None;
                    }
                }
            }
            tokio::time::sleep(retry).await;
        }
    }

    /// One attempt: a lease, and the key created with it where none exists. The lease, the
    /// fence and how long the lead lasts when won; `None` (and the leader's name published) when
    /// another instance holds the key.
    async fn campaign_once(
        &self,
        client: &mut Client,
    ) -> Result<Option<(i64, Fence, Instant)>, etcd_client::Error> {
        let asked = Instant::now();
        let ttl = self.ttl_s;
        let lease = retried(
            client,
            |mut c| async move { c.lease_grant(ttl, None).await },
        )
        .await?;
        let txn = Txn::new()
            .when([Compare::create_revision(
                self.key.clone(),
                CompareOp::Equal,
                0,
            )])
            .and_then([TxnOp::put(
                self.key.clone(),
                self.name.clone(),
                Some(PutOptions::new().with_lease(lease.id())),
            )])
            .or_else([TxnOp::get(self.key.clone(), None)]);
        let answer = retried(client, |mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })
        .await?;
        if answer.succeeded() {
            let revision = answer
                .header()
                .map_or(0, etcd_client::ResponseHeader::revision);
            let fence = Fence {
                key: self.key.clone(),
                create_revision: revision,
            };
            let until = asked + Duration::from_secs(lease.ttl().unsigned_abs());
            return Ok(Some((lease.id(), fence, until)));
        }
        let _ = timed(client.lease_revoke(lease.id())).await;
        let leader = answer.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => get
                .kvs()
                .first()
                .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()),
            _ => None,
        });
        self.publish(Role::Standby { leader });
        Ok(None)
    }

    /// Keeps the lease alive every quarter of its time to live, until stopped or until a renewal
    /// fails or the lease has run out.
    async fn hold(
        &self,
        client: &mut Client,
        lease: i64,
        fence: Fence,
        mut until: Instant,
    ) -> Ended {
        let (mut keeper, mut stream) = match keep_alive(client, lease).await {
            Ok(pair) => pair,
            Err(error) => return Ended::Lost(format!("cannot keep the lease alive: {error}")),
        };
        let every = self.ttl() / 4;
        // The first renewal at once: the lease's time was counted from before its grant, which
        // may have waited for etcd (an election, a member down).
        let mut pause = Duration::ZERO;
        loop {
            tokio::time::sleep(pause).await;
            if self.stop_requested() {
                return Ended::Stopped;
            }
            let asked = Instant::now();
            if asked >= until {
                return Ended::Lost("no renewal before the lease ran out".to_owned());
            }
            let failure = match renew(&mut keeper, &mut stream, until, every).await {
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => {
                    until = asked + Duration::from_secs(answer.ttl().unsigned_abs());
                    self.publish(Role::Leader {
                        fence: fence.clone(),
                        until,
                    });
                    pause = every;
                    continue;
                }
                Ok(Ok(Some(_))) => return Ended::Lost("etcd let the lease expire".to_owned()),
                Ok(Ok(None)) => "the stream ended".to_owned(),
                Ok(Err(error)) => error.to_string(),
                Err(_) => "no answer in time".to_owned(),
            };
            // The member the stream went to may be gone, or the etcd leader: a new stream (to
            // any member) and another try at once, while the lease lasts.
            tracing::warn!("leadership: renewing the lease: {failure}; trying again");
            let left = until.saturating_duration_since(Instant::now());
            if let Ok(Ok(pair)) = tokio::time::timeout(left, keep_alive(client, lease)).await {
                (keeper, stream) = pair;
            }
            pause = RENEW_RETRY;
        }
    }
}

/// The pause before another try at renewing the lease after one failed.
const RENEW_RETRY: Duration = Duration::from_millis(50);

/// A keep-alive stream for `lease`, tried again while members are unavailable.
async fn keep_alive(
    client: &Client,
    lease: i64,
) -> Result<(LeaseKeeper, LeaseKeepAliveStream), etcd_client::Error> {
    retried(
        client,
        |mut c| async move { c.lease_keep_alive(lease).await },
    )
    .await
}

/// One renewal of the lease on `keeper`'s stream, within `attempt` and before `until`.
async fn renew(
    keeper: &mut LeaseKeeper,
    stream: &mut LeaseKeepAliveStream,
    until: Instant,
    attempt: Duration,
) -> Result<
    Result<Option<etcd_client::LeaseKeepAliveResponse>, etcd_client::Error>,
    tokio::time::error::Elapsed,
> {
    let left = until.saturating_duration_since(Instant::now());
    tokio::time::timeout(left.min(attempt), async {
        keeper.keep_alive().await?;
        stream.message().await
    })
    .await
}
