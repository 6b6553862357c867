//! What building the package can fail on.

use std::{io, path::PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DistError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is missing ({what})")]
    Missing { path: PathBuf, what: &'static str },
    #[error("cannot run {command}: {source}")]
    Spawn { command: String, source: io::Error },
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{command} printed no architecture")]
    NoArchitecture { command: String },
}

impl DistError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
