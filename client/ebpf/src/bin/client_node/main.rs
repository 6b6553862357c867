//! The mobile node's programs for client-based DMM (RFC 8818 section 3.1.2).
//!
//! - `client_decap` (XDP, every interface): IPv6-in-IPv6 from an anchor (`CLIENT_ANCHORS`) is
//!   decapsulated and passed to the kernel; from any other host it is dropped; everything else
//!   passes unchanged.
//! - `client_encap` (TC egress, every interface): a packet whose source /64 has a tunnel
//!   (`CLIENT_TUNNELS`) is encapsulated toward that /64's anchor, from the node's current
//!   address; everything else leaves unchanged.
//!
//! Every packet counts in exactly one `ClientCounter`; neither program ever aborts.
#![no_std]
#![no_main]
#![expect(
    clippy::inline_always,
    reason = "the programs are built as one function each: every helper is inlined, so that the \
              verifier follows the packet bounds checks into it"
)]

mod decap;
mod encap;
mod headers;
mod maps;

use aya_ebpf::{
    macros::{classifier, xdp},
    programs::{TcContext, XdpContext},
};

use crate::maps::count;

#[xdp]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[xdp] passes the context by value"
)]
pub fn client_decap(ctx: XdpContext) -> u32 {
    let (action, counter) = decap::decap(&ctx);
    count(counter);
    action
}

#[classifier]
#[expect(
    clippy::needless_pass_by_value,
    reason = "#[classifier] passes the context by value"
)]
pub fn client_encap(ctx: TcContext) -> i32 {
    let (action, counter) = encap::encap(&ctx);
    count(counter);
    action
}

anchor_client_ebpf::program_object!();
