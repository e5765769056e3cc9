//! The scans behind the least-connection family (lc, wlc, sed, nq, lblc,
//! lblcr) and the weight-ordered schedulers (fo, ovf), written for speed
//! without giving up a bit of the kernel's semantics.
//!
//! Each is the kernel's walk over `svc->destinations`, keeping the best dest
//! so far and replacing it only when a later one is strictly better (so the
//! earliest of equally good dests wins), over [`DestSet::walk`]: one inlined
//! loop, counts summed over the workers' rows a cache line at a time, no
//! per-dest call or bounds check. lc, fo and ovf keep their "found a better
//! dest" test a predicted branch ([`rare`]); the weighted walk leaves it to
//! the compiler, which measured faster there (its updates are frequent on
//! mixed weights, and mispredictions cost more than the select chain).

use super::DestSet;

/// Marks the "found a better dest" branch as rare. Without it LLVM turns
/// the update into conditional moves, which chain every comparison to the
/// previous one (the next dest cannot be compared before the best-so-far
/// is settled); a call it cannot inline keeps the branch a branch, and the
/// predictor runs the comparisons ahead.
#[cold]
#[inline(never)]
fn rare<T>(x: T) -> T {
    x
}

/// lc's search: the available dest with the least overhead, earliest first.
#[inline(always)]
pub(crate) fn least<D: DestSet + ?Sized>(
    dests: &D,
    overhead: impl Fn(u64) -> u64,
) -> Option<usize> {
    let (mut best, mut loh) = (usize::MAX, u64::MAX);
    dests.walk(true, |i, w, o, conns| {
        let doh = overhead(conns);
        // usize::MAX: nothing found yet; the first available dest seeds.
        if w != 0 && !o && (doh < loh || best == usize::MAX) {
            (best, loh) = rare((i, doh));
        }
        true
    });
    (best != usize::MAX).then_some(best)
}

/// fo's and ovf's search: the highest weight among the available dests
/// `candidate` admits (given weight and packed conns), earliest first.
#[inline(always)]
pub(crate) fn highest_weight<D: DestSet + ?Sized>(
    dests: &D,
    with_conns: bool,
    candidate: impl Fn(u32, u64) -> bool,
) -> Option<usize> {
    let (mut best, mut hw) = (None, 0);
    dests.walk(with_conns, |i, w, o, conns| {
        if w > hw && !o && candidate(w, conns) {
            (best, hw) = rare((Some(i), w));
        }
        true
    });
    best
}

/// Weights at or below this keep `overhead * weight` (overhead < 2^41)
/// within 64 bits. IPVS weights are at most 65535; larger ones switch the
/// comparisons to 128 bits rather than wrap like the kernel's u64 products.
pub(crate) const NARROW_WEIGHT: u32 = (1 << 23) - 1;

/// The weighted-least walk of wlc, sed, nq, lblc and lblcr: the best dest
/// so far as (overhead, weight, index). It starts as (1, 0, none), which
/// every available dest beats (`1 * w > oh * 0` for w > 0) and no
/// unavailable one does (its weight is taken as 0, and `x * 0 > y` is never
/// true), exactly as the kernel's loop starts at the first available dest
/// and lets no weight-0 dest win.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Least {
    oh: u64,
    w: u64,
    idx: Option<usize>,
    /// Some weight seen so far is above [`NARROW_WEIGHT`]: compare in u128.
    wide: bool,
}

impl Least {
    pub(crate) const fn new() -> Self {
        Least {
            oh: 1,
            w: 0,
            idx: None,
            wide: false,
        }
    }

    /// Offer dest `i` with weight `w`, overload flag `o` and overhead `doh`
    /// (below 2^41).
    #[inline(always)]
    pub(crate) fn offer(&mut self, i: usize, w: u32, o: bool, doh: u64) {
        let w = if o { 0 } else { w };
        self.wide |= w > NARROW_WEIGHT;
        let w = u64::from(w);
        // The kernel's `loh * w_dest > doh * w_least`; both products stay
        // below 2^41 * 2^23 = 2^64 unless a weight is wide.
        let better = if self.wide {
            u128::from(self.oh) * u128::from(w) > u128::from(doh) * u128::from(self.w)
        } else {
            self.oh * w > doh * self.w
        };
        // No `rare` here: the products already keep the comparison off the
        // critical path, and early dests win often in small services.
        if better {
            self.oh = doh;
            self.w = w;
            self.idx = Some(i);
        }
    }

    /// The dest found, if any was available.
    pub(crate) const fn finish(&self) -> Option<usize> {
        self.idx
    }
}

/// `__ip_vs_wlc_schedule` and friends: the available dest with the
/// smallest `overhead / weight`, earliest first.
#[inline(always)]
pub(crate) fn weighted_least<D: DestSet + ?Sized>(
    dests: &D,
    overhead: impl Fn(u64) -> u64,
) -> Option<usize> {
    let mut least = Least::new();
    dests.walk(true, |i, w, o, conns| {
        least.offer(i, w, o, overhead(conns));
        true
    });
    least.finish()
}
