//! The signaling codec of anchor's control plane: the IPv6 Mobility Header (RFC 6275) carrying a
//! Proxy Binding Update or Acknowledgement (RFC 5213) with the mobility options of RFC 4283,
//! RFC 5213 and RFC 8885 (distributed mobility management: MAARs and a CMD).
//!
//! ```
//! use std::net::Ipv6Addr;
//! use anchor_signal::{Lifetime, MnId, MobilityHeader, MobilityOption, Pbu, PbuFlags};
//!
//! let (maar, cmd): (Ipv6Addr, Ipv6Addr) = ("2001:db8::1".parse()?, "2001:db8::2".parse()?);
//! let pbu = MobilityHeader::Pbu(Pbu {
//!     sequence: 7,
//!     flags: PbuFlags::A | PbuFlags::P | PbuFlags::D,
//!     lifetime: Lifetime(150),
//!     options: vec![
//!         MobilityOption::MnId(MnId::Eui48([2, 0, 0, 0, 0, 1])),
//!         MobilityOption::LocalPrefix("2001:db8:1:1::/64".parse()?),
//!     ],
//! });
//! let wire = pbu.encode(maar, cmd)?;
//! assert_eq!(MobilityHeader::decode(&wire, maar, cmd)?, pbu);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`message`]: [`MobilityHeader`], [`Pbu`], [`Pba`], [`Status`]; encode and decode.
//! - [`option`]: [`MobilityOption`], option numbers, alignment, [`RawOptions`] (the wire view).
//! - [`mn_id`], [`values`], [`flags`]: the typed fields.
//! - [`checksum`]: the Mobility Header checksum.
//! - [`escape`]: [`Untrusted`], network text made safe for a log line.
//! - [`error`]: [`DecodeError`], [`EncodeError`].

pub mod checksum;
pub mod error;
pub mod escape;
pub mod flags;
pub mod message;
pub mod mn_id;
pub mod option;
pub mod values;

pub use error::{DecodeError, EncodeError};
pub use escape::Untrusted;
pub use flags::{PbaFlags, PbuFlags};
pub use message::{MobilityHeader, Pba, Pbu, Status};
pub use mn_id::MnId;
pub use option::{Alignment, MobilityOption, RawOptions};
pub use values::{AccessTechnology, HandoffIndicator, Lifetime, Timestamp};
