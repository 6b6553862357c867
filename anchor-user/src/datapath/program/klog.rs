//! Forwarding the XDP program's aya-log records to the daemon's log (`tracing`), under the target
//! [`XDP_LOG_TARGET`].

use std::io;

use tokio::io::{Interest, unix::AsyncFd};

/// Reader of the program's log ring buffer (see [`Datapath::take_kernel_logger`]).
///
/// [`Datapath::take_kernel_logger`]: super::loader::Datapath::take_kernel_logger
pub type KernelLogger = aya_log::EbpfLogger<&'static dyn log::Log>;

/// The `tracing` target of the program's records, whatever module of the program wrote them.
pub const XDP_LOG_TARGET: &str = "anchor_xdp";

/// Turns the program's records (a `log` record each, from aya-log) into `tracing` events with
/// target [`XDP_LOG_TARGET`]; the program's module goes in the `module` field.
struct Forwarder;

impl log::Log for Forwarder {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let module = record.target();
        let message = record.args();
        match record.level() {
            log::Level::Error => {
                tracing::error!(target: XDP_LOG_TARGET, module, "{message}");
            }
            log::Level::Warn => tracing::warn!(target: XDP_LOG_TARGET, module, "{message}"),
            log::Level::Info => tracing::info!(target: XDP_LOG_TARGET, module, "{message}"),
            log::Level::Debug => tracing::debug!(target: XDP_LOG_TARGET, module, "{message}"),
            log::Level::Trace => tracing::trace!(target: XDP_LOG_TARGET, module, "{message}"),
        }
    }

    fn flush(&self) {}
}

static FORWARDER: Forwarder = Forwarder;

/// The logger the program's records go to (see [`Forwarder`]).
pub(super) fn forwarder() -> &'static dyn log::Log {
    &FORWARDER
}

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
