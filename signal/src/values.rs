//! Small values carried in mobility options and message fields: Handoff Indicator and Access
//! Technology Type (RFC 5213 sections 8.4, 8.5), the Timestamp (section 8.8) and the Lifetime
//! (RFC 6275 section 6.1.7). Numbers no constant names are kept as they came.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Handoff Indicator option value (RFC 5213 section 8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandoffIndicator(pub u8);

impl HandoffIndicator {
    /// Attachment over a new interface.
    pub const NEW_INTERFACE: Self = Self(1);
    /// Handoff between two different interfaces of the mobile node.
    pub const BETWEEN_INTERFACES: Self = Self(2);
    /// Handoff between mobile access gateways for the same interface.
    pub const BETWEEN_GATEWAYS: Self = Self(3);
    /// Handoff state unknown.
    pub const UNKNOWN: Self = Self(4);
    /// Handoff state not changed (re-registration).
    pub const NOT_CHANGED: Self = Self(5);
}

/// Access Technology Type option value (RFC 5213 section 8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AccessTechnology(pub u8);

impl AccessTechnology {
    pub const VIRTUAL: Self = Self(1);
    pub const PPP: Self = Self(2);
    pub const IEEE_802_3: Self = Self(3);
    pub const IEEE_802_11: Self = Self(4);
    pub const IEEE_802_16E: Self = Self(5);
}

/// Timestamp option value (RFC 5213 section 8.8): seconds since 1970-01-01 00:00 UTC in the upper
/// 48 bits, 1/65536 fractions of a second in the lower 16. Ordered like the times it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub u64);

impl Timestamp {
    pub fn new(seconds: u64, fraction: u16) -> Self {
        Self(((seconds & 0xffff_ffff_ffff) << 16) | u64::from(fraction))
    }

    /// The time now, or the epoch when the clock is before 1970.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// `time` in this format; times before 1970 give the epoch.
    pub fn from_system_time(time: SystemTime) -> Self {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let fraction = u16::try_from((u64::from(since.subsec_nanos()) << 16) / 1_000_000_000)
            .expect("subsec_nanos < 1e9, so the fraction fits 16 bits");
        Self::new(since.as_secs(), fraction)
    }

    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH
            + Duration::from_secs(self.seconds())
            + Duration::from_nanos(self.fraction_nanos())
    }

    pub fn seconds(self) -> u64 {
        self.0 >> 16
    }

    #[expect(
        clippy::cast_possible_truncation,
        reason = "the fraction is the low 16 bits"
    )]
    pub fn fraction(self) -> u16 {
        self.0 as u16
    }

    fn fraction_nanos(self) -> u64 {
        (u64::from(self.fraction()) * 1_000_000_000) >> 16
    }
}

/// Binding lifetime in units of 4 seconds (RFC 6275 section 6.1.7); zero de-registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Lifetime(pub u16);

impl Lifetime {
    /// The unit of the Lifetime field.
    pub const UNIT: Duration = Duration::from_secs(4);
    /// Lifetime 0: the binding is removed.
    pub const DEREGISTRATION: Self = Self(0);

    /// The longest lifetime not above `d`, capped at 65535 units (about 72 hours).
    pub fn from_duration_floor(d: Duration) -> Self {
        Self(u16::try_from(d.as_secs() / 4).unwrap_or(u16::MAX))
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_secs(u64::from(self.0) * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_splits_seconds_and_fractions() {
        let t = Timestamp::new(0x1234_5678_9abc, 0x8000);
        assert_eq!(t.0, 0x1234_5678_9abc_8000);
        assert_eq!(t.seconds(), 0x1234_5678_9abc);
        assert_eq!(t.fraction(), 0x8000);
        let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_500);
        let t = Timestamp::from_system_time(time);
        assert_eq!((t.seconds(), t.fraction()), (1_700_000_000, 0x8000));
        assert_eq!(t.to_system_time(), time);
        assert!(Timestamp::new(5, 1) > Timestamp::new(4, 0xffff));
    }

    #[test]
    fn lifetime_counts_in_units_of_four_seconds() {
        assert_eq!(
            Lifetime::from_duration_floor(Duration::from_secs(601)),
            Lifetime(150)
        );
        assert_eq!(Lifetime(150).as_duration(), Duration::from_mins(10));
        assert_eq!(
            Lifetime::from_duration_floor(Duration::from_secs(1 << 40)),
            Lifetime(u16::MAX)
        );
    }
}
