//! Connection counts shared by all workers, without locks.
//!
//! IPVS keeps one `activeconns`/`inactconns` pair per dest, updated with
//! atomic increments from every CPU. rvs has one conn table per worker, so
//! each worker knows only its own conns; lc, wlc, sed, nq, ovf, twos and the
//! lblc family must still see the service-wide numbers to approximate the
//! kernel.
//!
//! The choice: a shared array of per-(worker, dest slot) counters. Each cell
//! is an `AtomicU64` holding active conns in the high 32 bits and inactive in
//! the low 32, written by exactly one worker (its own row) with a relaxed
//! load and a relaxed store (no read-modify-write, no lock prefix, no
//! contention); a pick reads the sum over all workers with relaxed loads.
//! Packing both counts makes an active<->inactive transition one store and
//! lets a reader get both in one load. Each worker's row starts on its own
//! 64-byte cache line, so writers never share a line with each other; a
//! reader pulls `workers` lines per 8 dests.
//!
//! What it costs in accuracy: a pick may miss conns bound on other workers
//! during the last few nanoseconds (relaxed loads of cells being written), so
//! two workers picking at the same instant can both choose the same
//! least-loaded dest, exactly as two CPUs can in the kernel, whose scheduler
//! also reads the counters without the sched lock. The error is bounded by
//! the number of picks in flight (at most one per worker) and does not
//! accumulate, because every later pick sees the settled counts;
//! `tests/sched_counts.rs` measures it with two threads.
//!
//! Counters are indexed by a *dest slot*, a stable number the control core
//! gives each dest for its lifetime, not by the dest's position in the
//! service's list (which moves when dests are added or removed while their
//! conns live on). [`CountedDests`] maps list positions to slots for a pick.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::DestSet;

const ACTIVE_SHIFT: u32 = 32;
const INACTIVE_MASK: u64 = (1 << ACTIVE_SHIFT) - 1;
const CELLS_PER_LINE: usize = 8;

/// One cache line of counters.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Line([AtomicU64; CELLS_PER_LINE]);

/// Per-(worker, dest slot) conn counters, shared (`Arc`) by all workers.
#[derive(Debug)]
pub struct ConnCounts {
    workers: usize,
    slots: usize,
    lines_per_row: usize,
    lines: Box<[Line]>,
}

/// How a conn counts against its dest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnClass {
    /// `activeconns` (e.g. TCP ESTABLISHED).
    Active,
    /// `inactconns` (every other non-template conn).
    Inactive,
}

fn unpack(v: u64) -> (u32, u32) {
    // Both halves are 32 bits by construction.
    #[allow(clippy::cast_possible_truncation)]
    let r = ((v >> ACTIVE_SHIFT) as u32, (v & INACTIVE_MASK) as u32);
    r
}

fn pack(active: u32, inactive: u32) -> u64 {
    (u64::from(active) << ACTIVE_SHIFT) | u64::from(inactive)
}

impl Default for ConnCounts {
    /// One worker, no slots: a snapshot with no services.
    fn default() -> Self {
        ConnCounts::new(1, 0)
    }
}

impl ConnCounts {
    /// Counters for `workers` workers and dest slots `0..slots`, all zero.
    pub fn new(workers: usize, slots: usize) -> Self {
        let lines_per_row = slots.div_ceil(CELLS_PER_LINE).max(1);
        let lines = (0..workers * lines_per_row)
            .map(|_| Line::default())
            .collect();
        ConnCounts {
            workers,
            slots,
            lines_per_row,
            lines,
        }
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Number of dest slots.
    pub fn slots(&self) -> usize {
        self.slots
    }

    fn cell(&self, worker: usize, slot: usize) -> Option<&AtomicU64> {
        if worker >= self.workers || slot >= self.slots {
            return None;
        }
        let line = self
            .lines
            .get(worker * self.lines_per_row + slot / CELLS_PER_LINE)?;
        line.0.get(slot % CELLS_PER_LINE)
    }

    /// Single-writer update of `worker`'s cell: plain load, compute, store.
    /// Only `worker` may call this for its own row; out-of-range indices
    /// are ignored.
    fn update(&self, worker: usize, slot: usize, f: impl FnOnce(u32, u32) -> (u32, u32)) {
        if let Some(cell) = self.cell(worker, slot) {
            let (a, i) = unpack(cell.load(Relaxed));
            let (a, i) = f(a, i);
            cell.store(pack(a, i), Relaxed);
        }
    }

    /// A conn of `class` was bound to `slot` on `worker`
    /// (`ip_vs_bind_dest`).
    pub fn bind(&self, worker: usize, slot: usize, class: ConnClass) {
        self.update(worker, slot, |a, i| match class {
            ConnClass::Active => (a.saturating_add(1), i),
            ConnClass::Inactive => (a, i.saturating_add(1)),
        });
    }

    /// A conn of `class` left `slot` on `worker` (`ip_vs_unbind_dest`).
    pub fn unbind(&self, worker: usize, slot: usize, class: ConnClass) {
        self.update(worker, slot, |a, i| match class {
            ConnClass::Active => (a.saturating_sub(1), i),
            ConnClass::Inactive => (a, i.saturating_sub(1)),
        });
    }

    /// A conn on `worker` changed class (e.g. TCP reached or left
    /// ESTABLISHED); one store.
    pub fn reclass(&self, worker: usize, slot: usize, from: ConnClass, to: ConnClass) {
        if from == to {
            return;
        }
        self.update(worker, slot, |a, i| match to {
            ConnClass::Active => (a.saturating_add(1), i.saturating_sub(1)),
            ConnClass::Inactive => (a.saturating_sub(1), i.saturating_add(1)),
        });
    }

    /// Service-wide (active, inactive) of `slot`: the sum over workers.
    pub fn load(&self, slot: usize) -> (u32, u32) {
        let (mut a, mut i) = (0u64, 0u64);
        for w in 0..self.workers {
            if let Some(cell) = self.cell(w, slot) {
                let (wa, wi) = unpack(cell.load(Relaxed));
                a += u64::from(wa);
                i += u64::from(wi);
            }
        }
        (
            u32::try_from(a).unwrap_or(u32::MAX),
            u32::try_from(i).unwrap_or(u32::MAX),
        )
    }

    /// Service-wide active + inactive of `slot`, what the thresholds of
    /// [`super::overload::Thresholds`] compare.
    pub fn total(&self, slot: usize) -> u32 {
        let (a, i) = self.load(slot);
        a.saturating_add(i)
    }
}

/// The [`DestSet`] a worker hands to a pick: weights and overload flags from
/// its snapshot, counts summed over all workers.
#[derive(Debug, Clone, Copy)]
pub struct CountedDests<'a> {
    /// Weight of each dest, in list order.
    pub weights: &'a [u32],
    /// Overload flag of each dest, in list order.
    pub overloaded: &'a [bool],
    /// Counter slot of each dest, in list order.
    pub slots: &'a [usize],
    /// The shared counters.
    pub counts: &'a ConnCounts,
}

impl CountedDests<'_> {
    fn slot(&self, i: usize) -> usize {
        self.slots.get(i).copied().unwrap_or(usize::MAX)
    }
}

impl DestSet for CountedDests<'_> {
    fn len(&self) -> usize {
        self.weights
            .len()
            .min(self.overloaded.len())
            .min(self.slots.len())
    }
    fn weight(&self, i: usize) -> u32 {
        self.weights.get(i).copied().unwrap_or(0)
    }
    fn active(&self, i: usize) -> u32 {
        self.counts.load(self.slot(i)).0
    }
    fn inactive(&self, i: usize) -> u32 {
        self.counts.load(self.slot(i)).1
    }
    fn overloaded(&self, i: usize) -> bool {
        self.overloaded.get(i).copied().unwrap_or(true)
    }
    fn overhead(&self, i: usize) -> u64 {
        // One pass over the workers for both counts.
        let (a, n) = self.counts.load(self.slot(i));
        (u64::from(a) << 8) + u64::from(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_over_workers_and_rows_do_not_alias() {
        let c = ConnCounts::new(3, 10);
        c.bind(0, 9, ConnClass::Active);
        c.bind(1, 9, ConnClass::Active);
        c.bind(2, 9, ConnClass::Inactive);
        c.bind(2, 8, ConnClass::Inactive);
        assert_eq!(c.load(9), (2, 1));
        assert_eq!(c.load(8), (0, 1));
        c.reclass(2, 9, ConnClass::Inactive, ConnClass::Active);
        assert_eq!(c.load(9), (3, 0));
        c.unbind(0, 9, ConnClass::Active);
        c.unbind(0, 9, ConnClass::Active); // saturates, never wraps
        assert_eq!(c.load(9), (2, 0));
        assert_eq!(c.total(9), 2);
        // Out of range: ignored, reads as zero.
        c.bind(5, 0, ConnClass::Active);
        c.bind(0, 50, ConnClass::Active);
        assert_eq!(c.load(50), (0, 0));
        assert_eq!(core::mem::align_of::<Line>(), 64);
    }
}
