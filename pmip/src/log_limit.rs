//! Rate-limited logging of what any host can make us log: at most `burst` lines per `window`;
//! the rest are counted, and the first event after the window names how many were left out.
//! A flood of malformed messages then costs a few lines per window, never a disk.

use std::time::{Duration, Instant};

/// The state of one kind of event.
#[derive(Debug)]
pub struct LogLimit {
    window: Duration,
    burst: u32,
    started: Option<Instant>,
    logged: u32,
    suppressed: u64,
    total: u64,
}

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Log this event.
    pub log: bool,
    /// Events left out in the window that just ended (to be logged as one summary line).
    pub suppressed_before: u64,
}

impl LogLimit {
    pub const fn new(window: Duration, burst: u32) -> Self {
        Self {
            window,
            burst,
            started: None,
            logged: 0,
            suppressed: 0,
            total: 0,
        }
    }

    /// Counts one event at `now` and decides.
    pub fn event(&mut self, now: Instant) -> Decision {
        self.total += 1;
        let mut suppressed_before = 0;
        let expired = self
            .started
            .is_none_or(|start| now.saturating_duration_since(start) >= self.window);
        if expired {
            suppressed_before = std::mem::take(&mut self.suppressed);
            self.started = Some(now);
            self.logged = 0;
        }
        let log = self.logged < self.burst;
        if log {
            self.logged += 1;
        } else {
            self.suppressed += 1;
        }
        Decision {
            log,
            suppressed_before,
        }
    }

    /// Every event counted so far.
    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_gives_burst_lines_a_window_and_a_summary() {
        let t0 = Instant::now();
        let mut limit = LogLimit::new(Duration::from_secs(10), 5);
        let mut lines = 0;
        for i in 0..2000u64 {
            // 2000 events within the first second.
            let d = limit.event(t0 + Duration::from_micros(i * 500));
            assert_eq!(d.suppressed_before, 0);
            lines += u32::from(d.log);
        }
        assert_eq!(lines, 5);
        // The next window: the summary of the 1995 left out, and logging again.
        let d = limit.event(t0 + Duration::from_secs(10));
        assert_eq!(
            d,
            Decision {
                log: true,
                suppressed_before: 1995
            }
        );
        let d = limit.event(t0 + Duration::from_secs(11));
        assert_eq!(
            d,
            Decision {
                log: true,
                suppressed_before: 0
            }
        );
        assert_eq!(limit.total(), 2002);
    }
}
