//! A paced, numbered UDP stream between two namespaces, with the arrival time of every datagram
//! recorded at the receiver: what the handover tests and benchmarks measure a stall with.

use std::{
    net::{Ipv6Addr, SocketAddrV6, UdpSocket},
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::netns::within;

/// The bytes of one datagram (its number in the first eight).
const DATAGRAM: usize = 64;

/// The arrivals of a stream at its receiver, shared with the thread that records them: when,
/// and a number (a datagram's, or the bytes received by then).
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Mutex<Vec<(Instant, u64)>>>);

impl Arrivals {
    /// Records an arrival now.
    pub fn push(&self, number: u64) {
        self.lock().push((Instant::now(), number));
    }

    /// The arrivals so far.
    pub fn snapshot(&self) -> Vec<(Instant, u64)> {
        self.lock().clone()
    }

    /// Waits up to `bound` for `count` arrivals later than `since`; returns the first of them.
    pub fn wait_for(&self, since: Instant, count: usize, bound: Duration) -> Result<Instant> {
        let end = Instant::now() + bound;
        loop {
            let later: Vec<Instant> = self
                .lock()
                .iter()
                .map(|&(at, _)| at)
                .filter(|&at| at > since)
                .collect();
            if later.len() >= count {
                return Ok(later[0]);
            }
            if Instant::now() > end {
                bail!("{} of {count} arrivals within {bound:?}", later.len());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The stall around `start`: the longest gap between arrivals from the last one at or
    /// before `start` to `end`, and how many numbers are missing in that window (datagrams).
    pub fn stall(&self, start: Instant, end: Instant) -> (Duration, u64) {
        stall(&self.lock(), start, end)
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(Instant, u64)>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running stream; dropping it stops it.
pub struct UdpStream {
    stop: Arc<AtomicBool>,
    arrivals: Arrivals,
    threads: Vec<JoinHandle<()>>,
}

impl UdpStream {
    /// Sends a datagram every `pace` from `source` in namespace `from_ns` to `target`:`port` in
    /// namespace `to_ns`, where a socket bound to `[::]:port` receives them. Send errors (no
    /// route for a moment) show as datagrams missing at the receiver.
    pub fn start(
        from_ns: &str,
        source: Ipv6Addr,
        to_ns: &str,
        target: Ipv6Addr,
        port: u16,
        pace: Duration,
    ) -> Result<UdpStream> {
        let receiver = within(to_ns, || UdpSocket::bind((Ipv6Addr::UNSPECIFIED, port)))?
            .with_context(|| format!("cannot bind [::]:{port} in {to_ns}"))?;
        receiver.set_read_timeout(Some(Duration::from_millis(100)))?;
        let sender = within(from_ns, || UdpSocket::bind((source, 0)))?
            .with_context(|| format!("cannot bind [{source}]:0 in {from_ns}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let arrivals = Arrivals::default();
        let send_stop = Arc::clone(&stop);
        let target = SocketAddrV6::new(target, port, 0, 0);
        let send = std::thread::spawn(move || {
            let start = Instant::now();
            let mut payload = [0_u8; DATAGRAM];
            let mut number: u64 = 0;
            while !send_stop.load(Ordering::Relaxed) {
                payload[..8].copy_from_slice(&number.to_be_bytes());
                let _ = sender.send_to(&payload, target);
                number += 1;
                let due = start + pace * u32::try_from(number).unwrap_or(u32::MAX);
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
        });
        let receive_stop = Arc::clone(&stop);
        let log = arrivals.clone();
        let receive = std::thread::spawn(move || {
            let mut buffer = [0_u8; DATAGRAM * 2];
            while !receive_stop.load(Ordering::Relaxed) {
                if let Ok(n) = receiver.recv(&mut buffer)
                    && n >= 8
                {
                    let mut number = [0_u8; 8];
                    number.copy_from_slice(&buffer[..8]);
                    log.push(u64::from_be_bytes(number));
                }
            }
        });
        Ok(UdpStream {
            stop,
            arrivals,
            threads: vec![send, receive],
        })
    }

    /// The arrivals so far: when, and which datagram.
    pub fn arrivals(&self) -> Vec<(Instant, u64)> {
        self.arrivals.snapshot()
    }

    /// See [`Arrivals::wait_for`].
    pub fn wait_for(&self, since: Instant, count: usize, bound: Duration) -> Result<Instant> {
        self.arrivals.wait_for(since, count, bound)
    }

    /// See [`Arrivals::stall`].
    pub fn stall(&self, start: Instant, end: Instant) -> (Duration, u64) {
        self.arrivals.stall(start, end)
    }
}

impl Drop for UdpStream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// See [`Arrivals::stall`].
pub fn stall(arrivals: &[(Instant, u64)], start: Instant, end: Instant) -> (Duration, u64) {
    let first = arrivals
        .iter()
        .rposition(|&(at, _)| at <= start)
        .unwrap_or(0);
    let window: Vec<(Instant, u64)> = arrivals[first..]
        .iter()
        .copied()
        .filter(|&(at, _)| at <= end)
        .collect();
    let longest = window
        .windows(2)
        .map(|pair| pair[1].0.saturating_duration_since(pair[0].0))
        .max()
        .unwrap_or_default();
    let lost = window
        .windows(2)
        .map(|pair| pair[1].1.saturating_sub(pair[0].1).saturating_sub(1))
        .sum();
    (longest, lost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stall_is_the_longest_gap_from_the_last_arrival_before_the_move() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // Datagrams 0..=2 every 5 ms, the move at 12 ms, 3..=5 lost, 6 at 45 ms, 7 at 50 ms.
        let arrivals = [
            (at(0), 0),
            (at(5), 1),
            (at(10), 2),
            (at(45), 6),
            (at(50), 7),
            (at(200), 8),
        ];
        let (gap, lost) = stall(&arrivals, at(12), at(60));
        assert_eq!(gap, Duration::from_millis(35));
        assert_eq!(lost, 3);
        // A window that ends before the late arrival does not see its gap.
        assert_eq!(
            stall(&arrivals, at(12), at(60)).0,
            Duration::from_millis(35)
        );
        assert_eq!(
            stall(&arrivals, at(12), at(250)).0,
            Duration::from_millis(150)
        );
    }
}
