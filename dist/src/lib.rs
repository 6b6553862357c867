//! The Debian package of anchor, built with `dpkg-deb` from the release (or debug) binary, the
//! systemd units and sample configurations of `packaging/`, and the man pages and completions
//! rendered from the command line (`anchor-docs`). `cargo xtask dist` and the package test
//! (`tests/tests/deb_package.rs`) both build it through [`build_deb`].
//!
//! - [`contents`]: which file goes where, with which mode;
//! - [`control`]: the `DEBIAN/control` file;
//! - [`package`]: staging the tree and running `dpkg-deb`;
//! - [`error`]: what can fail.

pub mod contents;
pub mod control;
pub mod error;
pub mod package;

pub use contents::Inputs;
pub use error::DistError;
pub use package::{Compression, build_deb};

/// The package's name.
pub const PACKAGE: &str = "anchor";
/// The package's version: the workspace's.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
