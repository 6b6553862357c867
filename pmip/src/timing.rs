//! The signaling timers both the CMD and the MAAR configure: their defaults (RFC 6275
//! INITIAL_BINDACK_TIMEOUT and MAX_BINDACK_TIMEOUT, RFC 5213 TimestampValidityWindow), the checks
//! of their values, and the durations.

use std::time::Duration;

use thiserror::Error;

pub fn default_initial_bindack_timeout_ms() -> u64 {
    1_000
}
pub fn default_max_bindack_timeout_ms() -> u64 {
    32_000
}
pub fn default_timestamp_window_ms() -> u64 {
    300
}
pub fn default_report_interval_s() -> u64 {
    crate::report::DEFAULT_INTERVAL_S
}

/// A timer value out of range; each configuration names the key in its own error.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum TimingError {
    #[error("{key}: {value} must be at least {min}")]
    TooSmall {
        key: &'static str,
        value: u64,
        min: u64,
    },
    #[error("max_bindack_timeout_ms: {max} is below initial_bindack_timeout_ms {initial}")]
    TimeoutOrder { initial: u64, max: u64 },
}

/// The timers of a configuration, in the units of its keys.
pub trait SignalingTiming {
    fn initial_bindack_timeout_ms(&self) -> u64;
    fn max_bindack_timeout_ms(&self) -> u64;
    fn timestamp_window_ms(&self) -> u64;
    fn report_interval_s(&self) -> u64;

    /// Checks each `(key, value, min)` of `minimums` in order, then that the back-off does not
    /// end below where it starts.
    fn check_timing(&self, minimums: &[(&'static str, u64, u64)]) -> Result<(), TimingError> {
        if let Some(&(key, value, min)) = minimums.iter().find(|(_, value, min)| value < min) {
            return Err(TimingError::TooSmall { key, value, min });
        }
        let (initial, max) = (
            self.initial_bindack_timeout_ms(),
            self.max_bindack_timeout_ms(),
        );
        if max < initial {
            return Err(TimingError::TimeoutOrder { initial, max });
        }
        Ok(())
    }

    fn initial_bindack_timeout(&self) -> Duration {
        Duration::from_millis(self.initial_bindack_timeout_ms())
    }

    fn max_bindack_timeout(&self) -> Duration {
        Duration::from_millis(self.max_bindack_timeout_ms())
    }

    fn timestamp_window(&self) -> Duration {
        Duration::from_millis(self.timestamp_window_ms())
    }

    fn report_interval(&self) -> Duration {
        Duration::from_secs(self.report_interval_s())
    }
}

/// Implements [`SignalingTiming`] for a configuration with the four fields of the same names.
#[macro_export]
macro_rules! signaling_timing_fields {
    ($config:ty) => {
        impl $crate::timing::SignalingTiming for $config {
            fn initial_bindack_timeout_ms(&self) -> u64 {
                self.initial_bindack_timeout_ms
            }
            fn max_bindack_timeout_ms(&self) -> u64 {
                self.max_bindack_timeout_ms
            }
            fn timestamp_window_ms(&self) -> u64 {
                self.timestamp_window_ms
            }
            fn report_interval_s(&self) -> u64 {
                self.report_interval_s
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct T(u64, u64);
    impl SignalingTiming for T {
        fn initial_bindack_timeout_ms(&self) -> u64 {
            self.0
        }
        fn max_bindack_timeout_ms(&self) -> u64 {
            self.1
        }
        fn timestamp_window_ms(&self) -> u64 {
            300
        }
        fn report_interval_s(&self) -> u64 {
            60
        }
    }

    #[test]
    fn minimums_first_then_the_order() {
        assert_eq!(T(1000, 32000).check_timing(&[("a", 1, 1)]), Ok(()));
        assert_eq!(
            T(5000, 10).check_timing(&[("a", 0, 1)]),
            Err(TimingError::TooSmall {
                key: "a",
                value: 0,
                min: 1
            })
        );
        assert_eq!(
            T(5000, 10).check_timing(&[]),
            Err(TimingError::TimeoutOrder {
                initial: 5000,
                max: 10
            })
        );
        assert_eq!(T(1000, 2000).max_bindack_timeout(), Duration::from_secs(2));
    }
}
