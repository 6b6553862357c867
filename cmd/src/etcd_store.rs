//! [`EtcdStore`]: the CMD's records in etcd, one key per node under a prefix
//! (`PREFIX/mn/SUBTYPE/ID-IN-HEX`, the record as JSON). Every change is a transaction that
//! compares the key's modification revision with the one this store last saw, so two writers can
//! never both apply conflicting changes to one node: the second gets [`StoreError::Conflict`].
//! A store opened with a [`Fence`] (the leader's) also compares the leader key's creation
//! revision: once another instance leads, this one's writes fail ([`StoreError::NotLeader`]).
//!
//! The records are also kept in memory, read once at [`EtcdStore::open`]; reads never go to etcd.
//! The client is asynchronous: it runs on a thread of its own with its own runtime, and the
//! store's calls (from the CMD's loop, which also blocks on a file store's fsync) wait for its
//! answers, each at most [`TIMEOUT`].

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    future::Future,
    sync::mpsc,
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anchor_pmip::{MnKey, histogram::Histogram};
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse};

use crate::{
    etcd_leader::Fence,
    record::MnRecord,
    store::{MobilityStore, StoreError},
};

/// The longest an etcd request may take before the store gives up on it.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Where an etcd store lives: `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdLocation {
    pub endpoints: Vec<String>,
    /// The keys' prefix, without a trailing `/`.
    pub prefix: String,
}

impl EtcdLocation {
    /// The location named by `store`, when it is an `etcd://` URL; `None` for a path.
    pub fn parse(store: &str) -> Option<Result<Self, String>> {
        let rest = store.strip_prefix("etcd://")?;
        Some(Self::parse_rest(rest))
    }

    fn parse_rest(rest: &str) -> Result<Self, String> {
        let (hosts, prefix) = rest
            .split_once('/')
            .ok_or("no /PREFIX after the endpoints")?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            return Err("an empty PREFIX".to_owned());
        }
        let endpoints: Vec<String> = hosts.split(',').map(str::to_owned).collect();
        if endpoints.iter().any(|e| e.is_empty() || !e.contains(':')) {
            return Err(format!(
                "endpoints {hosts:?} are not HOST:PORT[,HOST:PORT...]"
            ));
        }
        Ok(Self {
            endpoints,
            prefix: format!("/{}", prefix.trim_start_matches('/')),
        })
    }

    /// Where the records are: `PREFIX/mn/`.
    fn records_prefix(&self) -> String {
        format!("{}/mn/", self.prefix)
    }

    fn key(&self, mn: &MnKey) -> String {
        let mut key = format!("{}{}/", self.records_prefix(), mn.subtype);
        for b in &mn.id {
            let _ = write!(key, "{b:02x}");
        }
        key
    }

    /// The URL as configured.
    pub fn url(&self) -> String {
        format!("etcd://{}{}", self.endpoints.join(","), self.prefix)
    }
}

/// A key's value and modification revision.
type Value = (Vec<u8>, i64);

/// What a conditional change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    /// Applied, at this revision.
    At(i64),
    /// Not applied: the key changed since.
    Conflict,
    /// Not applied: the fence's leader key is gone or another's.
    Fenced,
}

/// A request to the client's thread, with where to answer.
enum Request {
    /// Put `value` at `key` if its modification revision is still `revision` (0: absent): the
    /// new revision, or `None` when it was not.
    Put {
        key: String,
        value: Vec<u8>,
        revision: i64,
        reply: mpsc::Sender<Result<Written, etcd_client::Error>>,
    },
    /// Read `key`: its value and modification revision, if it exists.
    Get {
        key: String,
        reply: mpsc::Sender<Result<Option<Value>, etcd_client::Error>>,
    },
    /// Delete `key` if its modification revision is still `revision`: whether it was.
    Delete {
        key: String,
        revision: i64,
        reply: mpsc::Sender<Result<Written, etcd_client::Error>>,
    },
}

/// The records in etcd, cached in memory with their modification revisions.
pub struct EtcdStore {
    location: EtcdLocation,
    fence: Option<Fence>,
    records: BTreeMap<MnKey, (MnRecord, i64)>,
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    write_times: Histogram,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("location", &self.location)
            .field("records", &self.records.len())
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to `location` and reads every record under its prefix. With `fence`, every
    /// change is also conditional on the fence's leader key.
    pub fn open(location: EtcdLocation, fence: Option<Fence>) -> Result<Self, StoreError> {
        let (requests, receiver) = mpsc::channel::<Request>();
        let (loaded_tx, loaded_rx) = mpsc::channel();
        let endpoints = location.endpoints.clone();
        let prefix = location.records_prefix();
        let thread_fence = fence.clone();
        // The client and its runtime live on their own thread: the CMD's loop, itself on a
        // runtime, only waits on channels.
        let thread = std::thread::Builder::new()
            .name("etcd".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        let _ = loaded_tx.send(Err(Loading::Runtime(error)));
                        return;
                    }
                };
                let mut client = match runtime.block_on(connect_and_load(endpoints, prefix)) {
                    Ok((client, kvs)) => {
                        let _ = loaded_tx.send(Ok(kvs));
                        client
                    }
                    Err(error) => {
                        let _ = loaded_tx.send(Err(Loading::Etcd(error)));
                        return;
                    }
                };
                while let Ok(request) = receiver.recv() {
                    runtime.block_on(serve(&mut client, thread_fence.as_ref(), request));
                }
            })
            .map_err(|source| StoreError::EtcdRuntime { source })?;
        let loaded = loaded_rx
            .recv()
            .map_err(|_| StoreError::EtcdRuntime {
                source: std::io::Error::other("the etcd client's thread stopped at start"),
            })?
            .map_err(|error| match error {
                Loading::Runtime(source) => StoreError::EtcdRuntime { source },
                Loading::Etcd(source) => StoreError::Etcd {
                    url: location.url(),
                    source,
                },
            })?;
        let mut records = BTreeMap::new();
        for (key, value, revision) in loaded {
            let record: MnRecord = serde_json::from_slice(&value)
                .map_err(|source| StoreError::EtcdRecord { key, source })?;
            records.insert(record.mn.clone(), (record, revision));
        }
        Ok(Self {
            location,
            fence,
            records,
            requests: Some(requests),
            thread: Some(thread),
            write_times: Histogram::default(),
        })
    }

    pub fn location(&self) -> &EtcdLocation {
        &self.location
    }

    /// The instance that leads: the value of the leader key, if any.
    pub fn leader(&mut self) -> Result<Option<String>, StoreError> {
        let key = crate::etcd_leader::leader_key(&self.location);
        let value = self.ask(|reply| Request::Get { key, reply })?;
        Ok(value.map(|(value, _)| String::from_utf8_lossy(&value).into_owned()))
    }

    /// How long the writes took, as a histogram for `/metrics`.
    pub fn write_times(&self) -> &Histogram {
        &self.write_times
    }

    /// [`ask`](Self::ask) for a change (a put or a delete), timed for `/metrics`; reads are not.
    fn write<T>(
        &mut self,
        request: impl FnOnce(mpsc::Sender<Result<T, etcd_client::Error>>) -> Request,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = self.ask(request);
        self.write_times.observe(started.elapsed());
        result
    }

    /// Sends `request` (built around its reply channel) and waits for the answer.
    fn ask<T>(
        &mut self,
        request: impl FnOnce(mpsc::Sender<Result<T, etcd_client::Error>>) -> Request,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::channel();
        let gone = || StoreError::EtcdRuntime {
            source: std::io::Error::other("the etcd client's thread has stopped"),
        };
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send(request(reply))
            .map_err(|_| gone())?;
        let result = answer.recv().map_err(|_| gone())?;
        result.map_err(|source| StoreError::Etcd {
            url: self.location.url(),
            source,
        })
    }
}

/// Why the client's thread could not start.
enum Loading {
    Runtime(std::io::Error),
    Etcd(etcd_client::Error),
}

/// A record's key, value and modification revision.
type Loaded = Vec<(String, Vec<u8>, i64)>;

/// Connects to `endpoints` and reads every key under `prefix`, each step within [`TIMEOUT`].
async fn connect_and_load(
    endpoints: Vec<String>,
    prefix: String,
) -> Result<(Client, Loaded), etcd_client::Error> {
    let client = timed(Client::connect(endpoints, None)).await?;
    let answer = retried(&client, |mut c| {
        let prefix = prefix.clone();
        async move { c.get(prefix, Some(GetOptions::new().with_prefix())).await }
    })
    .await?;
    let kvs = answer
        .kvs()
        .iter()
        .map(|kv| {
            (
                String::from_utf8_lossy(kv.key()).into_owned(),
                kv.value().to_vec(),
                kv.mod_revision(),
            )
        })
        .collect();
    Ok((client, kvs))
}

/// `future` within [`TIMEOUT`].
pub(crate) async fn timed<T>(
    future: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, etcd_client::Error> {
    tokio::time::timeout(TIMEOUT, future)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

fn timed_out() -> etcd_client::Error {
    etcd_client::Error::InvalidArgs("request timed out".into())
}

/// The longest one try of a request may take. A request in flight when the etcd leader dies
/// can wait for an answer that never comes (its proposal lost with the leader); it is made
/// again, and may then go to another member or the new leader.
const ATTEMPT: Duration = Duration::from_millis(700);

/// The pause between two tries of a request that found its etcd member unavailable.
const RETRY_PAUSE: Duration = Duration::from_millis(25);

/// `request`, made again while etcd answers that it is unavailable (or the connection broke:
/// unknown, cancelled) or a try takes longer than [`ATTEMPT`], within [`TIMEOUT`] in all.
/// The client spreads requests over the members; one that is down stays in its list and fails
/// at once, and the next try may go to one that is up. A change that did reach etcd before its
/// answer was lost is refused on the next try by its comparison, and recognised then (see
/// [`EtcdStore::conflict`]).
pub(crate) async fn retried<T, F: Future<Output = Result<T, etcd_client::Error>>>(
    client: &Client,
    mut request: impl FnMut(Client) -> F,
) -> Result<T, etcd_client::Error> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(result) = tokio::time::timeout(left.min(ATTEMPT), request(client.clone())).await
        else {
            if left > ATTEMPT {
                continue;
            }
            return Err(timed_out());
        };
        match result {
            Err(etcd_client::Error::GRpcStatus(status))
                if matches!(
                    status.code(),
                    tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
                ) && tokio::time::Instant::now() + RETRY_PAUSE < deadline =>
            {
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// `op` on `key` if the key's modification revision is still `revision` (0: absent) and, with
/// `fence`, the leader key is still the one the fence names.
async fn when_unchanged(
    client: &mut Client,
    fence: Option<&Fence>,
    key: String,
    revision: i64,
    op: TxnOp,
) -> Result<Written, etcd_client::Error> {
    let mut compares = vec![Compare::mod_revision(key, CompareOp::Equal, revision)];
    let mut otherwise = Vec::new();
    if let Some(fence) = fence {
        compares.push(Compare::create_revision(
            fence.key.clone(),
            CompareOp::Equal,
            fence.create_revision,
        ));
        otherwise.push(TxnOp::get(fence.key.clone(), None));
    }
    let txn = Txn::new().when(compares).and_then([op]).or_else(otherwise);
    let answer = retried(client, |mut c| {
        let txn = txn.clone();
        async move { c.txn(txn).await }
    })
    .await?;
    if answer.succeeded() {
        return Ok(Written::At(
            answer
                .header()
                .map_or(0, etcd_client::ResponseHeader::revision),
        ));
    }
    let fenced = fence.is_some_and(|fence| {
        let now = answer.op_responses().into_iter().find_map(|r| match r {
            TxnOpResponse::Get(get) => Some(
                get.kvs()
                    .first()
                    .map(etcd_client::KeyValue::create_revision),
            ),
            _ => None,
        });
        now != Some(Some(fence.create_revision))
    });
    Ok(if fenced {
        Written::Fenced
    } else {
        Written::Conflict
    })
}

/// Runs one request with [`TIMEOUT`] and answers it.
async fn serve(client: &mut Client, fence: Option<&Fence>, request: Request) {
    match request {
        Request::Put {
            key,
            value,
            revision,
            reply,
        } => {
            let op = TxnOp::put(key.clone(), value, None);
            let _ = reply.send(when_unchanged(client, fence, key, revision, op).await);
        }
        Request::Get { key, reply } => {
            let result = retried(client, |mut c| {
                let key = key.clone();
                async move { c.get(key, None).await }
            })
            .await
            .map(|answer| {
                answer
                    .kvs()
                    .first()
                    .map(|kv| (kv.value().to_vec(), kv.mod_revision()))
            });
            let _ = reply.send(result);
        }
        Request::Delete {
            key,
            revision,
            reply,
        } => {
            let op = TxnOp::delete(key.clone(), None);
            let _ = reply.send(when_unchanged(client, fence, key, revision, op).await);
        }
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        // Closing the channel ends the thread's loop.
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl EtcdStore {
    /// The error of a write refused by the fence.
    fn fenced(&self) -> StoreError {
        StoreError::NotLeader {
            key: self
                .fence
                .as_ref()
                .map_or_else(String::new, |f| f.key.clone()),
        }
    }

    /// The change of `key` (node `mn`) to `wanted` (`None`: removed) was refused for the key's
    /// revision: the cache takes what etcd holds now (the record or its absence), so that it is
    /// not answered from again. When that is `wanted` itself, the change was this store's own,
    /// applied by an earlier try whose answer was lost: no error. Otherwise another writer's: the
    /// conflict, as the error to return. A failure to read is logged: the cached record then
    /// stays, still refused by the next write.
    fn conflict(
        &mut self,
        mn: &MnKey,
        key: String,
        wanted: Option<&MnRecord>,
    ) -> Result<(), StoreError> {
        let read = self.ask(|reply| Request::Get {
            key: key.clone(),
            reply,
        });
        match read {
            Ok(Some((value, revision))) => match serde_json::from_slice::<MnRecord>(&value) {
                Ok(record) => {
                    let own = wanted == Some(&record);
                    self.records.insert(mn.clone(), (record, revision));
                    if own {
                        return Ok(());
                    }
                }
                Err(error) => {
                    tracing::error!("the etcd record {key} is not a valid record: {error}");
                }
            },
            Ok(None) => {
                self.records.remove(mn);
                if wanted.is_none() {
                    return Ok(());
                }
            }
            Err(error) => tracing::error!("cannot read {key} again after a conflict: {error}"),
        }
        Err(StoreError::Conflict { key })
    }
}

impl MobilityStore for EtcdStore {
    fn get(&self, mn: &MnKey) -> Option<&MnRecord> {
        self.records.get(mn).map(|(record, _)| record)
    }

    fn put(&mut self, record: MnRecord) -> Result<(), StoreError> {
        let key = self.location.key(&record.mn);
        let revision = self.records.get(&record.mn).map_or(0, |(_, r)| *r);
        let value = serde_json::to_vec(&record).map_err(|source| StoreError::EtcdRecord {
            key: key.clone(),
            source,
        })?;
        let written = self.write(|reply| Request::Put {
            key: key.clone(),
            value,
            revision,
            reply,
        })?;
        match written {
            Written::At(revision) => {
                self.records.insert(record.mn.clone(), (record, revision));
                Ok(())
            }
            Written::Conflict => self.conflict(&record.mn.clone(), key, Some(&record)),
            Written::Fenced => Err(self.fenced()),
        }
    }

    fn remove(&mut self, mn: &MnKey) -> Result<(), StoreError> {
        let Some((_, revision)) = self.records.get(mn) else {
            return Ok(());
        };
        let (key, revision) = (self.location.key(mn), *revision);
        let deleted = self.write(|reply| Request::Delete {
            key: key.clone(),
            revision,
            reply,
        })?;
        match deleted {
            Written::At(_) => {
                self.records.remove(mn);
                Ok(())
            }
            Written::Conflict => self.conflict(mn, key, None),
            Written::Fenced => Err(self.fenced()),
        }
    }

    fn records(&self) -> Vec<&MnRecord> {
        self.records.values().map(|(record, _)| record).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_location_is_endpoints_and_a_prefix() {
        assert_eq!(
            EtcdLocation::parse("etcd://10.0.0.1:2379,10.0.0.2:2379/anchor/cmd/"),
            Some(Ok(EtcdLocation {
                endpoints: vec!["10.0.0.1:2379".into(), "10.0.0.2:2379".into()],
                prefix: "/anchor/cmd".into(),
            }))
        );
        assert_eq!(EtcdLocation::parse("/var/lib/anchor/cmd.json"), None);
        for bad in ["etcd://h:1", "etcd://h:1/", "etcd://h/p", "etcd://h:1,/p"] {
            assert!(
                matches!(EtcdLocation::parse(bad), Some(Err(_))),
                "{bad} should be refused"
            );
        }
        let location = EtcdLocation::parse("etcd://[::1]:2379/a")
            .expect("etcd")
            .expect("valid");
        let key = location.key(&MnKey {
            subtype: 4,
            id: vec![2, 0, 0, 0, 0, 0x0a],
        });
        assert_eq!(key, "/a/mn/4/02000000000a");
    }
}
