//! The statistics slots of the bindings.

/// Statistics slots `0..max`, recycled through a free list.
#[derive(Debug)]
pub(super) struct Slots {
    next: u32,
    max: u32,
    free: Vec<u32>,
}

impl Slots {
    pub(super) fn new(max: u32) -> Self {
        Self {
            next: 0,
            max,
            free: Vec::new(),
        }
    }

    /// The allocator once `used` (all below `max`) are taken.
    pub(super) fn with_used(max: u32, used: &std::collections::BTreeSet<u32>) -> Self {
        let next = used.last().map_or(0, |last| last + 1);
        // Reversed, so that `alloc` hands out the lowest free slot first.
        let free = (0..next)
            .rev()
            .filter(|slot| !used.contains(slot))
            .collect();
        Self { next, max, free }
    }

    pub(super) fn alloc(&mut self) -> Option<u32> {
        if let Some(slot) = self.free.pop() {
            return Some(slot);
        }
        if self.next < self.max {
            self.next += 1;
            return Some(self.next - 1);
        }
        None
    }

    pub(super) fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }
}
