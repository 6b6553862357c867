//! The flag fields of the Binding Update and the Binding Acknowledgement (IANA "Binding Update
//! Flags" and "Binding Acknowledgement Flags"). Bits without a name here are kept as they came.

use std::fmt;
use std::ops::BitOr;

macro_rules! flags {
    ($(#[$meta:meta])* $name:ident($bits:ty) { $($(#[$fmeta:meta])* $flag:ident = $value:expr;)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(pub $bits);

        impl $name {
            $($(#[$fmeta])* pub const $flag: Self = Self($value);)*
            /// No flag set.
            pub const EMPTY: Self = Self(0);
            const NAMES: &'static [(&'static str, $bits)] = &[$((stringify!($flag), $value)),*];

            /// Whether every flag of `other` is set.
            pub fn contains(self, other: Self) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl BitOr for $name {
            type Output = Self;
            fn bitor(self, other: Self) -> Self {
                Self(self.0 | other.0)
            }
        }

        /// The names of the set flags, e.g. `PbuFlags(A | P | D)`; unnamed bits in hex.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                let mut rest = self.0;
                let mut first = true;
                for (name, bit) in Self::NAMES {
                    if self.0 & bit != 0 {
                        f.write_str(if first { "" } else { " | " })?;
                        f.write_str(name)?;
                        rest &= !bit;
                        first = false;
                    }
                }
                if rest != 0 || first {
                    f.write_str(if first { "" } else { " | " })?;
                    write!(f, "{rest:#x}")?;
                }
                f.write_str(")")
            }
        }
    };
}

flags! {
    /// Flags of a (Proxy) Binding Update: the 16 bits after the Sequence Number.
    PbuFlags(u16) {
        /// Acknowledge requested (RFC 6275).
        A = 0x8000;
        /// Home registration (RFC 6275).
        H = 0x4000;
        /// Link-local address compatibility (RFC 6275).
        L = 0x2000;
        /// Key management mobility capability (RFC 6275).
        K = 0x1000;
        /// MAP registration (RFC 5380).
        M = 0x0800;
        /// Mobile router (RFC 3963).
        R = 0x0400;
        /// Proxy registration (RFC 5213).
        P = 0x0200;
        /// Forcing UDP encapsulation (RFC 5555).
        F = 0x0100;
        /// TLV-header format (named as in the IANA registry; not used here).
        T = 0x0080;
        /// Bulk binding update (named as in the IANA registry; not used here).
        B = 0x0040;
        /// The IANA registry's S flag (not used here).
        S = 0x0020;
        /// Sent by a MAAR or a CMD, not a MAG (RFC 8885 section 4.1).
        D = 0x0010;
    }
}

flags! {
    /// Flags of a (Proxy) Binding Acknowledgement: the 8 bits after the Status.
    PbaFlags(u8) {
        /// Key management mobility capability (RFC 6275).
        K = 0x80;
        /// Mobile router (RFC 3963).
        R = 0x40;
        /// Proxy registration (RFC 5213).
        P = 0x20;
        /// TLV-header format (named as in the IANA registry; not used here).
        T = 0x10;
        /// Bulk binding update (named as in the IANA registry; not used here).
        B = 0x08;
        /// The IANA registry's S flag (not used here).
        S = 0x04;
        /// Sent by a MAAR or a CMD (RFC 8885 section 4.2).
        D = 0x02;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combines_tests_and_names_flags() {
        let f = PbuFlags::A | PbuFlags::P | PbuFlags::D;
        assert_eq!(f.0, 0x8210);
        assert!(f.contains(PbuFlags::P | PbuFlags::D));
        assert!(!f.contains(PbuFlags::H));
        assert_eq!(format!("{f:?}"), "PbuFlags(A | P | D)");
        assert_eq!(format!("{:?}", PbuFlags(0x0201)), "PbuFlags(P | 0x1)");
        assert_eq!(format!("{:?}", PbaFlags::EMPTY), "PbaFlags(0x0)");
        assert_eq!((PbaFlags::P | PbaFlags::D).0, 0x22);
    }
}
