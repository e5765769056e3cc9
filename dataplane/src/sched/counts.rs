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
//! How a worker's picks read them: lc, wlc, sed, nq, fo, ovf and twos
//! services pick from the worker's [`super::tree::PickTree`], which copies
//! the sums at most [`super::tree::reload_interval`] apart (100 µs up to
//! 100 dests) and applies the worker's own binds, unbinds and class changes
//! as it makes them. So a worker's own conns count at once and other
//! workers' with at most that delay; with one worker the tree is exact. lblc and lblcr walk
//! [`CountedDests`] (only when their bucket's dest is unusable).
//! `dataplane/tests/sim_sched_workers.rs` shows the spread with two workers.
//!
//! Counters are indexed by a *dest slot*, a stable number the control core
//! gives each dest for its lifetime, not by the dest's position in the
//! service's list (which moves when dests are added or removed while their
//! conns live on). [`CountedDests`] maps list positions to slots for a pick.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::{DestSet, MAX_SCAN};

/// Dests whose counts a walk sums at once: one cache line of each row.
pub const CHUNK: usize = 8;

const ACTIVE_SHIFT: u32 = 32;
const INACTIVE_MASK: u64 = (1 << ACTIVE_SHIFT) - 1;
/// Cells per 64-byte cache line: rows start on a line and span whole lines.
const CELLS_PER_LINE: usize = 8;

/// Per-(worker, dest slot) conn counters, shared (`Arc`) by all workers.
///
/// The cells are one flat array so that a worker's row is one contiguous
/// slice: a pick sums a run of slots with plain loads and no index
/// arithmetic. Row `w` starts at cell `base + w * stride`, where `base`
/// skips the cells before the array's first 64-byte boundary and `stride` is
/// a whole number of lines, so every row starts on its own cache line.
#[derive(Debug)]
pub struct ConnCounts {
    workers: usize,
    slots: usize,
    stride: usize,
    base: usize,
    /// Bits of a cell half that, when set in any cell, could make the sum
    /// over all workers carry out of 32 bits (see [`ConnCounts::sum_packed`]).
    carry_risk: u64,
    cells: Box<[AtomicU64]>,
}

/// How a conn counts against its dest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnClass {
    /// `activeconns` (e.g. TCP ESTABLISHED).
    Active,
    /// `inactconns` (every other non-template conn).
    Inactive,
}

pub(crate) fn unpack(v: u64) -> (u32, u32) {
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
        let stride = slots.div_ceil(CELLS_PER_LINE).max(1) * CELLS_PER_LINE;
        // One line more than the rows need, to slide row 0 onto a boundary.
        let cells: Box<[AtomicU64]> = (0..workers * stride + CELLS_PER_LINE)
            .map(|_| AtomicU64::new(0))
            .collect();
        // Cells are 8-byte aligned, so the distance to the next line is a
        // whole number of cells.
        let misalign = cells.as_ptr() as usize % 64;
        let base = ((64 - misalign) % 64) / 8;
        // W cells each below 2^k sum below 2^32 when 2^k * W <= 2^32.
        let k = 32 - workers.max(1).next_power_of_two().trailing_zeros().min(32);
        let half = if k == 0 { 0 } else { (1u64 << k) - 1 };
        let carry_risk = !(half | (half << ACTIVE_SHIFT));
        ConnCounts {
            workers,
            slots,
            stride,
            base,
            carry_risk,
            cells,
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

    /// Worker `worker`'s row: exactly `slots` cells (empty when out of
    /// range).
    #[inline(always)]
    fn row(&self, worker: usize) -> &[AtomicU64] {
        if worker >= self.workers {
            return &[];
        }
        let start = self.base + worker * self.stride;
        self.cells.get(start..start + self.slots).unwrap_or(&[])
    }

    #[inline(always)]
    fn rows(&self) -> impl Iterator<Item = &[AtomicU64]> + '_ {
        (0..self.workers).map(|w| self.row(w))
    }

    fn cell(&self, worker: usize, slot: usize) -> Option<&AtomicU64> {
        self.row(worker).get(slot)
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

    /// Service-wide (active, inactive) of `slot`: the sum over workers,
    /// each saturating at `u32::MAX`.
    pub fn load(&self, slot: usize) -> (u32, u32) {
        if slot >= self.slots {
            return (0, 0);
        }
        let (mut a, mut i) = (0u64, 0u64);
        for row in self.rows() {
            if let Some(cell) = row.get(slot) {
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

    /// [`ConnCounts::load`] packed as `active << 32 | inactive`.
    pub fn load_packed(&self, slot: usize) -> u64 {
        let (a, i) = self.load(slot);
        pack(a, i)
    }

    /// Service-wide active + inactive of `slot`, what the thresholds of
    /// [`super::overload::Thresholds`] compare.
    pub fn total(&self, slot: usize) -> u32 {
        let (a, i) = self.load(slot);
        a.saturating_add(i)
    }

    /// The packed counts ([`ConnCounts::load_packed`]) of the first
    /// [`CHUNK`] `slots` at once; entries past `slots.len()` are 0.
    ///
    /// This is the pick's hot loop, so it adds whole packed cells: one load
    /// and one add per worker and dest, both halves at once. That is exact
    /// while no half carries, which holds when every cell half is below
    /// `2^32 / workers`; the OR of all cells read tells, and in the (absurd,
    /// billions of conns) case it does not hold the chunk is summed again
    /// half by half, saturating like `load`. A run of consecutive slots (the
    /// usual case: the control core hands out slots in order) reads each
    /// row as one fixed-size slice, without per-cell index checks.
    #[inline(always)]
    pub fn sum_packed(&self, slots: &[usize]) -> [u64; CHUNK] {
        let s0 = slots.first().copied().unwrap_or(0);
        let run = slots.len() == CHUNK
            && s0 <= self.slots.saturating_sub(CHUNK)
            && slots
                .iter()
                .zip(s0..)
                .fold(true, |ok, (&s, want)| ok & (s == want));
        if !run {
            return self.sum_scattered(slots);
        }
        let mut acc = [0u64; CHUNK];
        let mut seen = 0u64;
        let mut at = self.base + s0;
        for _ in 0..self.workers {
            if let Some(cells) = self
                .cells
                .get(at..at + CHUNK)
                .and_then(|c| <&[AtomicU64; CHUNK]>::try_from(c).ok())
            {
                for (a, c) in acc.iter_mut().zip(cells) {
                    let v = c.load(Relaxed);
                    seen |= v;
                    *a = a.wrapping_add(v);
                }
            }
            at += self.stride;
        }
        if seen & self.carry_risk != 0 {
            return self.sum_scattered(slots);
        }
        acc
    }

    /// [`ConnCounts::sum_packed`] for slots that are not one run, or sums
    /// that could carry: per cell, exact.
    #[cold]
    #[inline(never)]
    fn sum_scattered(&self, slots: &[usize]) -> [u64; CHUNK] {
        let mut acc = [0u64; CHUNK];
        for (a, &s) in acc.iter_mut().zip(slots) {
            *a = self.load_packed(s);
        }
        acc
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
    #[inline(always)]
    fn walk<F: FnMut(usize, u32, bool, u64) -> bool>(&self, with_conns: bool, mut f: F) {
        let n = self.len().min(MAX_SCAN);
        let mut start = 0;
        // A cache line of counters per worker row at a time.
        while start < n {
            let end = n.min(start + CHUNK);
            let (Some(w), Some(o), Some(s)) = (
                self.weights.get(start..end),
                self.overloaded.get(start..end),
                self.slots.get(start..end),
            ) else {
                return;
            };
            let conns = if with_conns {
                self.counts.sum_packed(s)
            } else {
                [0; CHUNK]
            };
            for (j, &wj) in w.iter().enumerate() {
                let oj = o.get(j).copied().unwrap_or(true);
                let cj = conns.get(j).copied().unwrap_or(0);
                if !f(start + j, wj, oj, cj) {
                    return;
                }
            }
            start = end;
        }
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
    }

    #[test]
    fn packed_sums_fall_back_to_exact_halves_when_they_could_carry() {
        let c = ConnCounts::new(3, 16);
        let set = |w: usize, slot: usize, a: u32, i: u32| {
            c.cell(w, slot).unwrap().store(pack(a, i), Relaxed);
        };
        // Slot 5: 3 * 2^31 inactive saturates; slot 6: actives sum to
        // 3 * (2^31 + 1), saturating too, inactives sum to 3.
        for w in 0..3 {
            set(w, 5, 0, 1 << 31);
            set(w, 6, (1 << 31) + 1, 1);
        }
        set(1, 7, 2, 9);
        let slots: Vec<usize> = (4..12).collect();
        let out = c.sum_packed(&slots);
        assert_eq!(out[1], pack(0, u32::MAX));
        assert_eq!(out[2], pack(u32::MAX, 3));
        assert_eq!(out[3], pack(2, 9));
        assert_eq!(out[1], c.load_packed(5));
        // Small values take the packed path: same answers, scattered slots.
        let d = ConnCounts::new(3, 16);
        d.bind(0, 13, ConnClass::Active);
        d.bind(2, 13, ConnClass::Inactive);
        d.bind(1, 2, ConnClass::Inactive);
        let out = d.sum_packed(&[13, 2, 99]);
        assert_eq!(out, [pack(1, 1), pack(0, 1), 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn rows_start_on_cache_lines() {
        for (workers, slots) in [(1, 0), (2, 3), (4, 64), (3, 1000)] {
            let c = ConnCounts::new(workers, slots);
            for w in 0..workers {
                let row = c.row(w);
                assert_eq!(row.len(), slots);
                let addr = c.cells[c.base + w * c.stride..].as_ptr() as usize;
                assert_eq!(addr % 64, 0, "{workers} workers, {slots} slots, row {w}");
            }
        }
    }
}
