//! A worker's pick tree: lc, wlc, sed, nq, fo and ovf answered in O(1), twos
//! in O(log n), with the cost moved to the conn-count updates (O(log n)
//! each, usually less: a replay stops where the winner does not change).
//!
//! Each of these schedulers is the kernel's walk over the dest list keeping
//! the best dest so far and replacing it only with a strictly better one, so
//! it returns the *earliest* dest among the best. "Better" is a strict weak
//! order on dests for every one of them (lc: least overhead; wlc and sed:
//! least `overhead / weight`, compared by cross-multiplication; nq: an idle
//! dest first, then sed's order; fo: highest weight; ovf: highest weight
//! among dests not past their weight; in all of them an unavailable dest
//! loses to any available one). A tournament over the dests in list order,
//! where the right (later) half's winner replaces the left's only when
//! strictly better, therefore returns exactly what the walk returns: the
//! winner of the whole list is the root, read in one load.
//!
//! twos draws two dests with probability proportional to their weights: the
//! kernel walks the list summing available weights up to each random draw.
//! Every node also holds the sum of its range's available weights, so a draw
//! descends from the root to the first dest whose running sum reaches it.
//!
//! The tree holds its own copy of the conn counts. The worker that owns it
//! applies its own binds, unbinds and class changes as it makes them (the
//! same arithmetic as [`super::counts::ConnCounts`]), so with one worker the
//! tree is always exact and is loaded from the shared counters only once,
//! when a snapshot installs it. With several workers, other workers' conns
//! reach it when the worker reloads the leaves from the shared counters
//! ([`PickTree::reload`]) at pick time, at most [`reload_interval`] apart:
//! between two reloads a worker balances its own new conns exactly against a
//! view of the others' that is at most that old (see
//! `dataplane/src/worker.rs`).

use super::counts::{unpack, ConnClass};
use super::scan::NARROW_WEIGHT;
use super::twos::XorShift64;
use super::{pack_conns, packed_active, packed_overhead, SchedKind, MAX_DESTS, NO_DEST};
use crate::time::Time;
use core::time::Duration;

/// The shortest time a worker picks from its tree before reloading other
/// workers' counts into it.
pub const RELOAD_INTERVAL: Duration = Duration::from_micros(100);

/// How long a worker with several peers picks from a tree of `dests` dests
/// before reloading it: [`RELOAD_INTERVAL`], or 1 µs per dest for large
/// services. A reload reads every worker's counter of every dest and replays
/// every match (about 5 to 10 ns per dest), so this keeps reloads near 1 % of
/// a worker that opens conns without pause.
pub fn reload_interval(dests: usize) -> Duration {
    let per_dest = Duration::from_micros(u64::try_from(dests).unwrap_or(u64::MAX));
    RELOAD_INTERVAL.max(per_dest)
}

/// The order a tree keeps: which scheduler it answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `ip_vs_lc`: least overhead, weight only as availability.
    Lc,
    /// `ip_vs_wlc`: least overhead / weight.
    Wlc,
    /// `ip_vs_sed`: least (active + 1) / weight.
    Sed,
    /// `ip_vs_nq`: the first idle dest, else sed's order.
    Nq,
    /// `ip_vs_fo`: highest weight.
    Fo,
    /// `ip_vs_ovf`: highest weight among dests whose active conns do not
    /// exceed their weight.
    Ovf,
    /// `ip_vs_twos`: two weighted random draws, the less loaded of the two
    /// ([`PickTree::draw_two`]).
    Twos,
}

impl Order {
    /// The order of scheduler `kind`, if a tree can answer for it (the
    /// schedulers whose pick depends only on counts, weights and overload
    /// flags).
    pub const fn of(kind: SchedKind) -> Option<Order> {
        match kind {
            SchedKind::Lc => Some(Order::Lc),
            SchedKind::Wlc => Some(Order::Wlc),
            SchedKind::Sed => Some(Order::Sed),
            SchedKind::Nq => Some(Order::Nq),
            SchedKind::Fo => Some(Order::Fo),
            SchedKind::Ovf => Some(Order::Ovf),
            SchedKind::Twos => Some(Order::Twos),
            _ => None,
        }
    }
}

/// One dest as the tree sees it.
#[derive(Debug, Clone, Copy, Default)]
struct Leaf {
    /// Counts packed by [`pack_conns`].
    conns: u64,
    /// Configured weight.
    weight: u32,
    /// Carries the overload flag.
    overloaded: bool,
}

impl Leaf {
    /// The weight a pick sees: 0 for a dest that cannot take a conn.
    #[inline(always)]
    fn eff(self) -> u64 {
        if self.overloaded {
            0
        } else {
            u64::from(self.weight)
        }
    }
}

/// Whether `r` (a later dest) is strictly better than `l` under `order`.
#[inline(always)]
fn better(order: Order, wide: bool, l: Leaf, r: Leaf) -> bool {
    let (lw, rw) = (l.eff(), r.eff());
    // `loh * w_r > roh * w_l`, the kernel's test; an unavailable `l` is
    // taken as (overhead 1, weight 0), which every available `r` beats and
    // no unavailable one does (`x * 0 > y` never holds).
    let weighted = |loh: u64, roh: u64| {
        let loh = if lw == 0 { 1 } else { loh };
        if wide {
            u128::from(loh) * u128::from(rw) > u128::from(roh) * u128::from(lw)
        } else {
            loh * rw > roh * lw
        }
    };
    match order {
        Order::Lc => rw != 0 && (lw == 0 || packed_overhead(r.conns) < packed_overhead(l.conns)),
        Order::Wlc => weighted(packed_overhead(l.conns), packed_overhead(r.conns)),
        Order::Sed => weighted(packed_active(l.conns) + 1, packed_active(r.conns) + 1),
        Order::Nq => {
            let idle = |w: u64, c: u64| w != 0 && packed_active(c) == 0;
            if idle(lw, l.conns) {
                false
            } else if idle(rw, r.conns) {
                true
            } else {
                weighted(packed_active(l.conns) + 1, packed_active(r.conns) + 1)
            }
        }
        // twos reads only the weight sums; the winners are fo's.
        Order::Fo | Order::Twos => rw > lw,
        Order::Ovf => {
            let fits = |w: u64, c: u64| w != 0 && packed_active(c) <= w;
            let (lf, rf) = (fits(lw, l.conns), fits(rw, r.conns));
            rf && (!lf || rw > lw)
        }
    }
}

/// A tournament tree over one service's dests, in list order.
///
/// Node `k`'s children are `2k` and `2k + 1`; the leaves are nodes
/// `cap..2 * cap` (`cap` a power of two, padding leaves unavailable), and
/// every inner node holds the index of the winning dest of its range.
#[derive(Debug, Clone)]
pub struct PickTree {
    order: Order,
    /// Some weight is above `NARROW_WEIGHT` (compare in 128 bits).
    wide: bool,
    len: usize,
    cap: usize,
    leaves: Box<[Leaf]>,
    /// Winner per node (index 0 unused); `NO_DEST` never appears once built.
    win: Box<[u16]>,
    /// Sum of the available weights under each node, leaves included
    /// (`sums[cap + i]` is dest `i`'s); below 2^48.
    sums: Box<[u64]>,
    /// When [`PickTree::reload`] is due next.
    reload_at: Time,
}

impl PickTree {
    /// A tree for dests with `weights` (in list order), all idle and none
    /// overloaded. Allocates: build it when a snapshot is installed. More
    /// than [`MAX_DESTS`] weights are cut to that many.
    pub fn new(order: Order, weights: &[u32]) -> PickTree {
        let weights = weights.get(..MAX_DESTS).unwrap_or(weights);
        let len = weights.len();
        let cap = len.next_power_of_two().max(1);
        let mut leaves = vec![
            Leaf {
                conns: 0,
                weight: 0,
                overloaded: true,
            };
            cap
        ];
        for (l, &w) in leaves.iter_mut().zip(weights) {
            *l = Leaf {
                conns: 0,
                weight: w,
                overloaded: false,
            };
        }
        let mut t = PickTree {
            order,
            wide: weights.iter().any(|&w| w > NARROW_WEIGHT),
            len,
            cap,
            leaves: leaves.into(),
            win: vec![NO_DEST; 2 * cap].into(),
            sums: vec![0; 2 * cap].into(),
            reload_at: Time::ZERO,
        };
        t.rebuild();
        t
    }

    /// The order this tree keeps.
    pub const fn order(&self) -> Order {
        self.order
    }

    /// Number of dests.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the tree has no dests.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pick: the index of the dest the kernel's walk would choose, or
    /// `None` when no dest is available. For a twos tree use
    /// [`PickTree::draw_two`].
    #[inline]
    pub fn best(&self) -> Option<usize> {
        let i = usize::from(*self.win.get(1)?);
        let leaf = *self.leaves.get(i)?;
        let ok = match self.order {
            Order::Ovf => leaf.eff() != 0 && packed_active(leaf.conns) <= leaf.eff(),
            _ => leaf.eff() != 0,
        };
        (ok && i < self.len).then_some(i)
    }

    /// `ip_vs_twos_schedule` (as [`super::twos::pick`]): two draws from
    /// `0..=total` of the available weights, each taken to the first
    /// available dest whose running weight sum reaches it (at least 1), and
    /// the second choice only if its `overhead / weight` is smaller.
    pub fn draw_two(&self, rng: &mut XorShift64) -> Option<usize> {
        let total = self.sums.get(1).copied().unwrap_or(0);
        if total == 0 {
            return None;
        }
        let c1 = self.find(rng.below(total + 1).max(1))?;
        let c2 = self.find(rng.below(total + 1).max(1))?;
        let leaf = |i: usize| self.leaves.get(i).copied().unwrap_or_default();
        let (l1, l2) = (leaf(c1), leaf(c2));
        let (w1, w2) = (u128::from(l1.weight), u128::from(l2.weight));
        let (o1, o2) = (
            u128::from(packed_overhead(l1.conns)),
            u128::from(packed_overhead(l2.conns)),
        );
        Some(if w2 * o1 > w1 * o2 { c2 } else { c1 })
    }

    /// The first dest whose running sum of available weights reaches `r`
    /// (1 ..= the total).
    fn find(&self, mut r: u64) -> Option<usize> {
        let mut k = 1;
        while k < self.cap {
            let left = self.sums.get(2 * k).copied().unwrap_or(0);
            if left >= r {
                k *= 2;
            } else {
                r -= left;
                k = 2 * k + 1;
            }
        }
        let i = k.checked_sub(self.cap)?;
        (i < self.len).then_some(i)
    }

    /// Counts packed by [`pack_conns`] of dest `i` (0 out of range).
    pub fn conns(&self, i: usize) -> u64 {
        self.leaves.get(i).map_or(0, |l| l.conns)
    }

    /// A conn of `class` was bound to dest `i` by this worker.
    #[inline]
    pub fn bind(&mut self, i: usize, class: ConnClass) {
        self.update(i, |a, n| match class {
            ConnClass::Active => (a.saturating_add(1), n),
            ConnClass::Inactive => (a, n.saturating_add(1)),
        });
    }

    /// A conn of `class` left dest `i` on this worker.
    #[inline]
    pub fn unbind(&mut self, i: usize, class: ConnClass) {
        self.update(i, |a, n| match class {
            ConnClass::Active => (a.saturating_sub(1), n),
            ConnClass::Inactive => (a, n.saturating_sub(1)),
        });
    }

    /// A conn of dest `i` on this worker changed class.
    #[inline]
    pub fn reclass(&mut self, i: usize, from: ConnClass, to: ConnClass) {
        if from == to {
            return;
        }
        self.update(i, |a, n| match to {
            ConnClass::Active => (a.saturating_add(1), n.saturating_sub(1)),
            ConnClass::Inactive => (a.saturating_sub(1), n.saturating_add(1)),
        });
    }

    /// Dest `i`'s overload flag.
    #[inline]
    pub fn set_overloaded(&mut self, i: usize, overloaded: bool) {
        if let Some(l) = self.leaves.get_mut(i).filter(|_| i < self.len) {
            if l.overloaded != overloaded {
                l.overloaded = overloaded;
                let eff = l.eff();
                self.fix(i);
                let mut k = self.cap + i;
                if let Some(s) = self.sums.get_mut(k) {
                    *s = eff;
                }
                while k > 1 {
                    k /= 2;
                    let sum = self.sums.get(2 * k).copied().unwrap_or(0)
                        + self.sums.get(2 * k + 1).copied().unwrap_or(0);
                    if let Some(s) = self.sums.get_mut(k) {
                        *s = sum;
                    }
                }
            }
        }
    }

    /// Sets every dest's counts and overload flag from `f(index)` (the
    /// service-wide counts and the worker's flags) and rebuilds the tree:
    /// O(n). The next reload is due `every` after `now`, or never when
    /// `every` is `None` (one worker: its own updates keep the tree exact).
    pub fn reload(
        &mut self,
        now: Time,
        every: Option<Duration>,
        mut f: impl FnMut(usize) -> (u64, bool),
    ) {
        for (i, l) in self.leaves.iter_mut().take(self.len).enumerate() {
            (l.conns, l.overloaded) = f(i);
        }
        self.rebuild();
        self.reload_at = every.map_or(Time::from_nanos(u64::MAX), |d| now + d);
    }

    /// Whether a [`PickTree::reload`] is due at `now`.
    #[inline]
    pub fn reload_due(&self, now: Time) -> bool {
        now >= self.reload_at
    }

    #[inline(always)]
    fn update(&mut self, i: usize, f: impl FnOnce(u32, u32) -> (u32, u32)) {
        if let Some(l) = self.leaves.get_mut(i).filter(|_| i < self.len) {
            let (a, n) = unpack(l.conns);
            let (a, n) = f(a, n);
            l.conns = pack_conns(a, n);
            self.fix(i);
        }
    }

    /// The winner of two nodes' winners (left first in list order).
    #[inline(always)]
    fn duel(&self, l: u16, r: u16) -> u16 {
        let leaf = |x: u16| self.leaves.get(usize::from(x)).copied().unwrap_or_default();
        if better(self.order, self.wide, leaf(l), leaf(r)) {
            r
        } else {
            l
        }
    }

    /// Replays the matches on the path from leaf `i` to the root.
    #[inline]
    fn fix(&mut self, i: usize) {
        let mut k = (self.cap + i) / 2;
        while k >= 1 {
            let (l, r) = (self.child(2 * k), self.child(2 * k + 1));
            let w = self.duel(l, r);
            match self.win.get_mut(k) {
                Some(slot) if *slot != w => *slot = w,
                // The same winner as before: nothing above changes unless
                // the winner's own leaf changed, so go on only then.
                Some(_) if usize::from(w) == i => {}
                _ => break,
            }
            k /= 2;
        }
    }

    /// The winner at node `k`: a leaf's own index, an inner node's entry.
    #[inline(always)]
    fn child(&self, k: usize) -> u16 {
        if k >= self.cap {
            u16::try_from(k - self.cap).unwrap_or(NO_DEST)
        } else {
            self.win.get(k).copied().unwrap_or(NO_DEST)
        }
    }

    fn rebuild(&mut self) {
        for (s, l) in self.sums.iter_mut().skip(self.cap).zip(self.leaves.iter()) {
            *s = l.eff();
        }
        for k in (1..self.cap).rev() {
            let sum = self.sums.get(2 * k).copied().unwrap_or(0)
                + self.sums.get(2 * k + 1).copied().unwrap_or(0);
            if let Some(s) = self.sums.get_mut(k) {
                *s = sum;
            }
            let w = self.duel(self.child(2 * k), self.child(2 * k + 1));
            if let Some(slot) = self.win.get_mut(k) {
                *slot = w;
            }
        }
        if self.cap == 1 {
            // One leaf: the root is the leaf itself.
            if let Some(slot) = self.win.get_mut(1) {
                *slot = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::{fo, lc, nq, ovf, sed, twos, wlc, DestView};
    use proptest::prelude::*;

    const ORDERS: [Order; 7] = [
        Order::Lc,
        Order::Wlc,
        Order::Sed,
        Order::Nq,
        Order::Fo,
        Order::Ovf,
        Order::Twos,
    ];

    /// The kernel-style walk of `order` over plain views.
    fn walk(order: Order, d: &[DestView]) -> Option<usize> {
        match order {
            Order::Twos => unreachable!("twos draws: see `same`"),
            Order::Lc => lc::pick(d),
            Order::Wlc => wlc::pick(d),
            Order::Sed => sed::pick(d),
            Order::Nq => nq::pick(d),
            Order::Fo => fo::pick(d),
            Order::Ovf => ovf::pick(d),
        }
    }

    /// Whether the tree answers as the walk over the same dests; twos with
    /// the same random draws, over a few seeds.
    fn same(t: &PickTree, weights: &[u32]) -> bool {
        let v = views(t, weights);
        if t.order() != Order::Twos {
            return t.best() == walk(t.order(), &v);
        }
        (0..8u64).all(|seed| {
            let (mut a, mut b) = (XorShift64::new(seed), XorShift64::new(seed));
            t.draw_two(&mut a) == twos::pick(v.as_slice(), &mut b)
        })
    }

    fn views(t: &PickTree, weights: &[u32]) -> Vec<DestView> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                let mut v = DestView::new([10, 0, 0, 1].into(), 80, w);
                let (a, n) = unpack(t.conns(i));
                v.active = a;
                v.inactive = n;
                v.overloaded = t.leaves[i].overloaded;
                v
            })
            .collect()
    }

    #[derive(Debug, Clone)]
    enum Op {
        Bind(usize, bool),
        Unbind(usize, bool),
        Reclass(usize, bool),
        Overload(usize, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..80, any::<bool>()).prop_map(|(i, a)| Op::Bind(i, a)),
            2 => (0usize..80, any::<bool>()).prop_map(|(i, a)| Op::Unbind(i, a)),
            2 => (0usize..80, any::<bool>()).prop_map(|(i, a)| Op::Reclass(i, a)),
            1 => (0usize..80, any::<bool>()).prop_map(|(i, o)| Op::Overload(i, o)),
        ]
    }

    fn class(active: bool) -> ConnClass {
        if active {
            ConnClass::Active
        } else {
            ConnClass::Inactive
        }
    }

    proptest! {
        /// After every update, the root is what the walk picks from the
        /// same counts, for every order: small weights and counts make
        /// ties, zero weights and overloads common.
        #[test]
        fn root_is_the_walks_pick(
            weights in proptest::collection::vec(prop_oneof![3 => 0u32..4, 1 => 0u32..70_000, 1 => Just(u32::MAX)], 0..70),
            ops in proptest::collection::vec(op(), 0..120),
        ) {
            for order in ORDERS {
                let mut t = PickTree::new(order, &weights);
                prop_assert!(same(&t, &weights), "{:?}", order);
                for o in &ops {
                    let n = weights.len().max(1);
                    match *o {
                        Op::Bind(i, a) => t.bind(i % n, class(a)),
                        Op::Unbind(i, a) => t.unbind(i % n, class(a)),
                        Op::Reclass(i, a) => t.reclass(i % n, class(!a), class(a)),
                        Op::Overload(i, v) => t.set_overloaded(i % n, v),
                    }
                    prop_assert!(same(&t, &weights), "{:?} after {:?}", order, o);
                }
            }
        }

        /// A reload sets every leaf at once: same answer as the walk,
        /// including counts at the field limits.
        #[test]
        fn reload_matches_the_walk(
            d in proptest::collection::vec(
                (0u32..5, prop_oneof![0u32..4, Just(u32::MAX)], 0u32..600, any::<bool>()), 0..130),
        ) {
            let weights: Vec<u32> = d.iter().map(|x| x.0).collect();
            for order in ORDERS {
                let mut t = PickTree::new(order, &weights);
                t.reload(Time::ZERO, Some(reload_interval(d.len())), |i| {
                    let x = d[i];
                    (pack_conns(x.1, x.2), x.3)
                });
                prop_assert!(same(&t, &weights), "{:?}", order);
                prop_assert!(!t.reload_due(Time::ZERO));
                prop_assert!(t.reload_due(Time::ZERO + reload_interval(d.len())));
                t.reload(Time::ZERO, None, |_| (0, false));
                prop_assert!(!t.reload_due(Time::from_nanos(u64::MAX - 1)));
            }
        }
    }

    #[test]
    fn reloads_grow_with_large_services() {
        assert_eq!(reload_interval(0), RELOAD_INTERVAL);
        assert_eq!(reload_interval(64), RELOAD_INTERVAL);
        assert_eq!(reload_interval(1024), Duration::from_micros(1024));
    }

    #[test]
    fn wlc_spreads_like_the_kernel_and_quiesced_dests_take_nothing() {
        // Weights 1:2:3 and a quiesced dest: 60 binds end 10/20/30/0, each
        // bind going where the walk would send it.
        let weights = [1, 2, 3, 0];
        let mut t = PickTree::new(Order::Wlc, &weights);
        let mut got = [0u32; 4];
        for _ in 0..60 {
            let i = t.best().unwrap();
            assert_eq!(Some(i), wlc::pick(views(&t, &weights).as_slice()));
            t.bind(i, ConnClass::Active);
            got[i] += 1;
        }
        assert_eq!(got, [10, 20, 30, 0]);
        for i in 0..3 {
            t.set_overloaded(i, true);
        }
        assert_eq!(t.best(), None);
        assert_eq!(PickTree::new(Order::Lc, &[]).best(), None);
        assert_eq!(PickTree::new(Order::Fo, &[7]).best(), Some(0));
    }
}
