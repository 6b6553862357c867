//! Turning a failed map syscall into a [`DatapathError`] that names the map.

use aya::{maps::MapError, sys::SyscallError};

use crate::datapath::{error::DatapathError, params::MapName};

/// The `errno` of a failed map syscall, if that is what `error` is.
pub(super) fn errno(error: &MapError) -> Option<i32> {
    match error {
        MapError::SyscallError(SyscallError { io_error, .. }) => io_error.raw_os_error(),
        _ => None,
    }
}

pub(super) fn map_error(
    operation: &'static str,
    name: MapName,
) -> impl FnOnce(MapError) -> DatapathError {
    move |source| DatapathError::Map {
        operation,
        name,
        source,
    }
}

/// Classifies an insert failure: a full map (`E2BIG` from a hash map, `ENOSPC` from an LPM
/// trie) is [`DatapathError::MapFull`].
pub(super) fn insert_error(name: MapName) -> impl FnOnce(MapError) -> DatapathError {
    move |source| match errno(&source) {
        Some(libc::E2BIG | libc::ENOSPC) => DatapathError::MapFull { name },
        _ => DatapathError::Map {
            operation: "insert",
            name,
            source,
        },
    }
}
