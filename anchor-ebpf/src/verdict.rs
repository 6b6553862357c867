//! A verdict is an XDP action together with the counter that records it.

use anchor_common::Counter;
use aya_ebpf::bindings::xdp_action;

#[derive(Clone, Copy)]
pub struct Verdict {
    pub action: u32,
    pub counter: Counter,
}

impl Verdict {
    /// Passed to the kernel unmodified.
    pub const PASS: Verdict = Verdict {
        action: xdp_action::XDP_PASS,
        counter: Counter::Pass,
    };
    /// Rewritten, then passed to the kernel to forward.
    pub const KERNEL_FALLBACK: Verdict = Verdict {
        action: xdp_action::XDP_PASS,
        counter: Counter::KernelFallback,
    };
    pub const TX: Verdict = Verdict {
        action: xdp_action::XDP_TX,
        counter: Counter::Tx,
    };
    pub const REDIRECT: Verdict = Verdict {
        action: xdp_action::XDP_REDIRECT,
        counter: Counter::Redirect,
    };

    pub const fn drop(counter: Counter) -> Verdict {
        Verdict {
            action: xdp_action::XDP_DROP,
            counter,
        }
    }
}
