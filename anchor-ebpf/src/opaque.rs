//! Values the verifier takes as any number.
//!
//! The verifier compares a number exactly between the states it reaches once the number is used
//! to address memory (a packet offset, a map value's slot), and with it every register and stack
//! slot the number came through: paths that computed different values can then not be pruned
//! together, and the rest of the program is walked once for each. A value that every path uses
//! the same way, within bounds the program checks or masks anyway, is better seen as unknown.

/// `value`, through a stack word the verifier cannot read back as a number: its low half written
/// with `value` (the word zeroed first), then the whole word read. The result equals `value`;
/// the caller bounds it (a mask, a check) before it addresses anything.
#[inline(always)]
pub fn opaque(value: u32) -> u64 {
    let mut word = 0u64;
    let low = (&raw mut word).cast::<u32>();
    // SAFETY: volatile accesses of a local, which the compiler keeps as they are. BPF is
    // little-endian here (bpfel): the low half is the first four bytes.
    unsafe {
        core::ptr::write_volatile(&raw mut word, 0);
        core::ptr::write_volatile(low, value);
        core::ptr::read_volatile(&raw const word)
    }
}
