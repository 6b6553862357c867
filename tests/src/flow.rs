//! A TCP flow that keeps echoing: a thread writes a chunk of a position-dependent byte pattern
//! every [`INTERVAL`], reads the echo back and checks every byte, and records each round trip,
//! so that a test can ask whether the flow still works after a move and how long it stalled.
//! [`Flow::hold`] pauses it between two round trips, so that a test can read counters while
//! the flow sends nothing.

use std::{
    io::{Read as _, Write as _},
    net::{Ipv6Addr, Shutdown, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

/// The pause between two round trips: often enough that a redirect never looks idle and that
/// a move finds a round trip in flight or about to start.
pub const INTERVAL: Duration = Duration::from_millis(20);
/// The bytes of one round trip: more than a full-size segment, so that the tunnels' path MTU is
/// exercised both ways.
pub const CHUNK: usize = 4000;

/// One completed round trip.
#[derive(Clone, Copy, Debug)]
pub struct RoundTrip {
    pub started: Instant,
    pub took: Duration,
}

#[derive(Default)]
struct Log {
    round_trips: Vec<RoundTrip>,
    /// Bytes echoed and verified.
    verified: u64,
    /// Why the flow stopped working.
    error: Option<String>,
}

/// A running flow; [`Flow::close`] ends it.
pub struct Flow {
    pub name: String,
    pub source: Ipv6Addr,
    stop: Arc<AtomicBool>,
    /// Asked to pause ([`Flow::hold`]).
    held: Arc<AtomicBool>,
    /// Held by the thread for the whole of each round trip: [`Flow::hold`] takes it to wait for
    /// the one in flight.
    turn: Arc<Mutex<()>>,
    log: Arc<Mutex<Log>>,
    thread: Option<JoinHandle<()>>,
}

/// The pattern's byte at `offset` of flow `seed`: a lost, repeated or reordered byte shows.
#[expect(
    clippy::cast_possible_truncation,
    reason = "a byte pattern: the low byte of the mix is the point"
)]
fn pattern(seed: u64, offset: u64) -> u8 {
    (offset.wrapping_mul(31) ^ (offset >> 8) ^ seed.wrapping_mul(0x9e)) as u8
}

impl Flow {
    /// Starts echoing on `stream` (connected, with a read timeout that bounds a round trip).
    pub fn start(name: &str, seed: u64, mut stream: TcpStream) -> Flow {
        let source = match stream.local_addr().expect("local address") {
            std::net::SocketAddr::V6(local) => *local.ip(),
            other @ std::net::SocketAddr::V4(_) => {
                panic!("{name}: an IPv4 connection from {other}")
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        let held = Arc::new(AtomicBool::new(false));
        let turn = Arc::new(Mutex::new(()));
        let log = Arc::new(Mutex::new(Log::default()));
        let thread = {
            let (stop, held, turn, log) = (stop.clone(), held.clone(), turn.clone(), log.clone());
            std::thread::spawn(move || {
                let mut offset = 0u64;
                let mut out = vec![0u8; CHUNK];
                let mut back = vec![0u8; CHUNK];
                while !stop.load(Ordering::SeqCst) {
                    let turn = turn.lock().expect("the flow's turn");
                    // Checked under the lock: once `hold` has the lock, no round trip starts.
                    if held.load(Ordering::SeqCst) {
                        drop(turn);
                        std::thread::sleep(INTERVAL);
                        continue;
                    }
                    for (i, b) in out.iter_mut().enumerate() {
                        *b = pattern(seed, offset + i as u64);
                    }
                    let started = Instant::now();
                    let result = stream
                        .write_all(&out)
                        .and_then(|()| stream.read_exact(&mut back));
                    let took = started.elapsed();
                    let mut log = log.lock().expect("the flow's log");
                    if let Err(err) = result {
                        log.error = Some(format!(
                            "the round trip at byte {offset} failed after {took:?}: {err}"
                        ));
                        return;
                    }
                    if let Some(i) = (0..CHUNK).find(|i| back[*i] != out[*i]) {
                        log.error = Some(format!(
                            "byte {} came back as {:#04x}, not {:#04x}",
                            offset + i as u64,
                            back[i],
                            out[i]
                        ));
                        return;
                    }
                    log.round_trips.push(RoundTrip { started, took });
                    log.verified += CHUNK as u64;
                    offset += CHUNK as u64;
                    drop(log);
                    drop(turn);
                    std::thread::sleep(INTERVAL);
                }
                let _ = stream.shutdown(Shutdown::Both);
            })
        };
        Flow {
            name: name.to_owned(),
            source,
            stop,
            held,
            turn,
            log,
            thread: Some(thread),
        }
    }

    /// Pauses the flow: returns once the round trip in flight, if any, has ended, and starts no
    /// other until [`Flow::resume`]. The acknowledgements of the last one may still be on their
    /// way (delayed ACKs); wait a little before reading counters.
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
        drop(self.turn.lock().expect("the flow's turn"));
    }

    /// Resumes the round trips after [`Flow::hold`].
    pub fn resume(&self) {
        self.held.store(false, Ordering::SeqCst);
    }

    /// Why the flow stopped working, if it did.
    pub fn error(&self) -> Option<String> {
        self.log.lock().expect("the flow's log").error.clone()
    }

    /// The round trips started at or after `since`, in order.
    pub fn round_trips_since(&self, since: Instant) -> Vec<RoundTrip> {
        let log = self.log.lock().expect("the flow's log");
        log.round_trips
            .iter()
            .filter(|rt| rt.started >= since)
            .copied()
            .collect()
    }

    /// The longest round trip that ended after `since` (one in flight across a move included):
    /// the flow's stall.
    pub fn longest_ending_after(&self, since: Instant) -> Option<Duration> {
        let log = self.log.lock().expect("the flow's log");
        log.round_trips
            .iter()
            .filter(|rt| rt.started + rt.took >= since)
            .map(|rt| rt.took)
            .max()
    }

    /// Bytes echoed and verified so far.
    pub fn verified(&self) -> u64 {
        self.log.lock().expect("the flow's log").verified
    }

    /// Stops echoing and closes the connection; the bytes verified, or why the flow had failed.
    pub fn close(mut self) -> Result<u64, String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| format!("{}: its thread panicked", self.name))?;
        }
        match self.error() {
            Some(error) => Err(error),
            None => Ok(self.verified()),
        }
    }
}

/// Echoes on every connection `listener` accepts, one thread each, until the test ends. Unlike
/// [`crate::scenario::echo_forever`], with TCP_NODELAY and whole chunks: a round trip then
/// measures the path, not Nagle's algorithm waiting for a delayed acknowledgement.
pub fn echo_server(listener: &TcpListener) {
    let accepting = listener.try_clone().expect("listener");
    std::thread::spawn(move || {
        for stream in accepting.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = stream.set_nodelay(true);
                let mut buf = vec![0u8; 65536];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
}

impl Drop for Flow {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
