//! Forwarding the XDP program's aya-log records to the `log` crate.

use std::io;

use tokio::io::{Interest, unix::AsyncFd};

/// Reader of the program's log ring buffer (see [`super::Datapath::take_kernel_logger`]).
pub type KernelLogger = aya_log::EbpfLogger<&'static dyn log::Log>;

/// Drains the program's log records into the process logger as they arrive. Runs until an
/// error (it never returns `Ok`); cancel it by dropping the future.
pub async fn forward_kernel_logs(logger: KernelLogger) -> io::Result<()> {
    // SAFETY: the logger owns its ring buffer's descriptor for its whole life and always
    // returns that same descriptor from `as_raw_fd`; `flush` only reads from it.
    let mut logger = unsafe { AsyncFd::register_with_interest(logger, Interest::READABLE) }?;
    loop {
        let mut ready = logger.readable_mut().await?;
        ready.get_inner_mut().flush();
        ready.clear_ready();
    }
}
