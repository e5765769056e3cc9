//! The per-worker conn table: a preallocated slab of conns referred to by
//! `u32` index, a bucketed hash index from tuple to (conn, direction), and
//! the expiry wheel.
//!
//! Everything is sized at construction and nothing allocates afterwards: a
//! full slab refuses new conns ([`InsertError::Full`], counted) and never
//! evicts established ones (IPVS likewise drops new conns when it cannot
//! allocate one).
//!
//! The layout is VPP's lb plugin's (`lbhash.h`): what a lookup touches is
//! one 64-byte index bucket and one 64-byte conn, nothing else.
//! - The slab keeps one conn per cache line ([`Slot`]), so reading or
//!   refreshing a conn never pulls two lines (a packed 56-byte array
//!   straddles a line boundary for six conns in eight).
//! - A bucket is one cache line holding [`WAYS`] entries: a 32-bit
//!   signature of the hash (never 0; 0 marks a free way) and the word
//!   `slab index << 1 | dir`, plus an overflow count. A probe compares the
//!   signatures of its home bucket, then the tuple rebuilt from the conn, so
//!   a false signature match costs one more conn read, never a wrong hit.
//! - Overflow: an entry whose home bucket is full goes to the next bucket
//!   with a free way, and every full bucket it passed counts it in `over`.
//!   A lookup goes on past a bucket only while that count is non-zero, and
//!   a removal decrements the counts again, so there are no tombstones, no
//!   rehash and no stall, ever. The index has room for two entries per conn
//!   at half load ([`LOAD_DEN`]), where about 3 % of the buckets overflow.
//!
//! Bursts ([`ConnTable::lookup_burst`]) hash every key first and read each
//! home bucket, then each candidate conn, before any full comparison: the
//! loads of a burst are independent, so the CPU has many cache misses in
//! flight at once instead of two in a row per packet. This is the prefetch
//! of VPP's loops done with plain loads, as software prefetch would need
//! `unsafe` intrinsics, which this crate forbids.

use super::key::{ConnAddr, HashSeed, Tuple};
use super::state::{ConnConfig, TcpFlags, Transition};
use super::timer::{Timed, TimerWheel, WheelConfig, WheelConfigError, NIL};
use super::{Conn, ConnId, Dir, NewConn};
use crate::time::Time;
use std::hint::black_box;

/// Where a lookup landed: which conn, and which of its tuples matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// The conn.
    pub id: ConnId,
    /// The direction of the packet relative to the conn.
    pub dir: Dir,
}

/// Why a conn was not created. Small and `Copy`, for the packet path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InsertError {
    /// Every slot is taken.
    Full,
    /// One of the conn's tuples already belongs to a conn.
    Exists,
}

/// Why a table could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableConfigError {
    /// Capacity 0, or above 2^30 conns (the index packs index and direction in 32 bits).
    BadCapacity,
    /// The timer wheel shape is invalid.
    Wheel(WheelConfigError),
}

/// Everything fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableConfig {
    /// Most conns the table holds.
    pub capacity: u32,
    /// Secret keying the hash (random per worker in production).
    pub seed: u64,
    /// Expiry wheel shape.
    pub wheel: WheelConfig,
    /// The clock value at construction.
    pub start: Time,
}

/// Single-writer counters of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    /// Conns created.
    pub inserted: u64,
    /// Conns removed by the caller.
    pub removed: u64,
    /// Conns removed by expiry.
    pub expired: u64,
    /// Creations refused because the table was full.
    pub full: u64,
    /// Creations refused because a tuple was taken.
    pub exists: u64,
}

const MAX_CAPACITY: u32 = 1 << 30;

/// Entries per index bucket: seven signatures, seven words and the overflow
/// count fill one 64-byte cache line.
pub const WAYS: usize = 7;

/// The index has `ceil(LOAD_DEN * entries / WAYS)` buckets for its most
/// entries (two per conn): half full at worst.
const LOAD_DEN: usize = 2;

/// No entry (free way, no candidate).
const NONE: u32 = u32::MAX;

/// One cache line of the index.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket {
    /// Hash signatures; 0 is a free way.
    sig: [u32; WAYS],
    /// `slab index << 1 | dir` of each used way.
    val: [u32; WAYS],
    /// Entries that passed this bucket, full, on the way to a later one.
    over: u32,
}

impl Bucket {
    const EMPTY: Bucket = Bucket {
        sig: [0; WAYS],
        val: [NONE; WAYS],
        over: 0,
    };
}

/// A conn in its own cache line (see the module comment).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct Slot<A>(Conn<A>);

impl<A: ConnAddr> Timed for Slot<A> {
    fn link(&self) -> &super::timer::TimerLink {
        self.0.link()
    }
    fn link_mut(&mut self) -> &mut super::timer::TimerLink {
        self.0.link_mut()
    }
    fn expires(&self) -> Time {
        self.0.expires()
    }
}

/// The signature of a hash: its low half, never 0. (The bucket comes from
/// the high half, so the two are independent.)
#[inline]
fn sig_of(hash: u64) -> u32 {
    #[allow(clippy::cast_possible_truncation)] // the low half is the point
    let low = hash as u32;
    low | 1
}

/// The bucketed index: fixed size, no tombstones (see the module comment).
#[derive(Debug)]
struct Index {
    buckets: Vec<Bucket>,
    len: usize,
}

impl Index {
    /// An index for at most `entries` entries.
    fn new(entries: usize) -> Index {
        let n = (entries * LOAD_DEN).div_ceil(WAYS).max(1);
        Index {
            buckets: vec![Bucket::EMPTY; n],
            len: 0,
        }
    }

    /// The home bucket of `hash`: its high half scaled to the bucket count
    /// (a multiply and a shift instead of a division).
    #[inline]
    fn home(&self, hash: u64) -> usize {
        let n = self.buckets.len() as u64;
        #[allow(clippy::cast_possible_truncation)] // below n, which is a usize
        let b = (((hash >> 32) * n) >> 32) as usize;
        b
    }

    #[inline]
    fn next(&self, b: usize) -> usize {
        if b + 1 == self.buckets.len() {
            0
        } else {
            b + 1
        }
    }

    fn bytes(&self) -> usize {
        self.buckets.capacity() * core::mem::size_of::<Bucket>()
    }

    /// The first word in the home bucket of `hash` whose signature matches.
    #[inline]
    fn candidate(&self, hash: u64) -> u32 {
        let sig = sig_of(hash);
        let Some(b) = self.buckets.get(self.home(hash)) else {
            return NONE;
        };
        b.sig
            .iter()
            .zip(&b.val)
            .find(|(&s, _)| s == sig)
            .map_or(NONE, |(_, &v)| v)
    }

    /// The word for `hash` that `eq` accepts.
    #[inline]
    fn find(&self, hash: u64, mut eq: impl FnMut(u32) -> bool) -> Option<u32> {
        let sig = sig_of(hash);
        let mut b = self.home(hash);
        for _ in 0..self.buckets.len() {
            let bucket = &self.buckets[b];
            for (&s, &v) in bucket.sig.iter().zip(&bucket.val) {
                if s == sig && eq(v) {
                    return Some(v);
                }
            }
            if bucket.over == 0 {
                return None;
            }
            b = self.next(b);
        }
        None
    }

    /// Adds word `v` for `hash`; `false` when the index is full (never with
    /// the table's accounting: two entries per conn at most).
    fn insert(&mut self, hash: u64, v: u32) -> bool {
        if self.len >= self.buckets.len() * WAYS {
            return false;
        }
        let sig = sig_of(hash);
        let mut b = self.home(hash);
        // A free way exists, so this ends within one lap.
        loop {
            let bucket = &mut self.buckets[b];
            if let Some(i) = bucket.sig.iter().position(|&s| s == 0) {
                bucket.sig[i] = sig;
                bucket.val[i] = v;
                self.len += 1;
                return true;
            }
            bucket.over += 1;
            b = self.next(b);
        }
    }

    /// Removes word `v` stored for `hash`; `false` if it is not there.
    fn remove(&mut self, hash: u64, v: u32) -> bool {
        let sig = sig_of(hash);
        let home = self.home(hash);
        let mut b = home;
        for _ in 0..self.buckets.len() {
            let bucket = &mut self.buckets[b];
            let way = (0..WAYS).find(|&i| bucket.sig[i] == sig && bucket.val[i] == v);
            if let Some(i) = way {
                bucket.sig[i] = 0;
                bucket.val[i] = NONE;
                self.len -= 1;
                // It no longer passes the buckets between its home and here.
                let mut p = home;
                while p != b {
                    self.buckets[p].over -= 1;
                    p = self.next(p);
                }
                return true;
            }
            if bucket.over == 0 {
                return false;
            }
            b = self.next(b);
        }
        false
    }
}

/// The conn table of one worker.
#[derive(Debug)]
pub struct ConnTable<A: ConnAddr> {
    slab: Vec<Slot<A>>,
    index: Index,
    wheel: TimerWheel,
    seed: HashSeed,
    /// Head of the free slot list, linked through the timer links.
    free: u32,
    len: u32,
    /// Bumped by every insertion and removal (see [`ConnTable::version`]).
    version: u64,
    stats: TableStats,
}

#[inline]
fn encode(idx: u32, dir: Dir) -> u32 {
    (idx << 1) | dir as u32
}

#[inline]
fn decode(v: u32) -> (u32, Dir) {
    (v >> 1, if v & 1 == 0 { Dir::In } else { Dir::Out })
}

impl<A: ConnAddr> ConnTable<A> {
    /// A table for `capacity` conns with the default wheel, clock at zero.
    pub fn with_capacity(capacity: u32, seed: u64) -> Result<Self, TableConfigError> {
        Self::new(TableConfig {
            capacity,
            seed,
            wheel: WheelConfig::default(),
            start: Time::ZERO,
        })
    }

    /// A table as configured. All memory is allocated (and touched) here.
    pub fn new(cfg: TableConfig) -> Result<Self, TableConfigError> {
        if cfg.capacity == 0 || cfg.capacity > MAX_CAPACITY {
            return Err(TableConfigError::BadCapacity);
        }
        let wheel = TimerWheel::new(cfg.wheel, cfg.start).map_err(TableConfigError::Wheel)?;
        let cap = usize::try_from(cfg.capacity).map_err(|_| TableConfigError::BadCapacity)?;
        let mut slab = vec![Slot(Conn::EMPTY); cap];
        // Free list in index order, so a fresh table fills from slot 0.
        for (i, c) in slab.iter_mut().enumerate() {
            let next = u32::try_from(i + 1)
                .ok()
                .filter(|&n| n < cfg.capacity)
                .unwrap_or(NIL);
            c.0.link_mut().set_free_next(next);
        }
        Ok(ConnTable {
            slab,
            index: Index::new(2 * cap),
            wheel,
            seed: HashSeed::new(cfg.seed),
            free: 0,
            len: 0,
            version: 0,
            stats: TableStats::default(),
        })
    }

    /// Most conns the table holds.
    pub fn capacity(&self) -> u32 {
        u32::try_from(self.slab.len()).unwrap_or(u32::MAX)
    }

    /// Live conns.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True with no live conn.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The counters.
    pub fn stats(&self) -> &TableStats {
        &self.stats
    }

    /// Changes with every insertion and removal (expiry included): a lookup
    /// made at one version holds as long as the version stays the same.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Heap bytes held: slab (one cache line per conn), hash index and
    /// wheel heads.
    pub fn memory_bytes(&self) -> usize {
        self.slab.capacity() * core::mem::size_of::<Slot<A>>()
            + self.index.bytes()
            + self.wheel.heap_bytes()
    }

    /// Bytes of one slab entry (a conn padded to its cache line).
    pub const fn slot_bytes() -> usize {
        core::mem::size_of::<Slot<A>>()
    }

    /// Bytes of the hash index alone.
    pub fn index_bytes(&self) -> usize {
        self.index.bytes()
    }

    /// Index buckets (64 bytes and [`WAYS`] entries each).
    pub fn index_buckets(&self) -> usize {
        self.index.buckets.len()
    }

    /// Entries in the hash index (one or two per conn).
    pub fn index_len(&self) -> usize {
        self.index.len
    }

    #[inline]
    fn find(&self, hash: u64, key: &Tuple<A>) -> Option<Hit> {
        let slab = &self.slab;
        self.index
            .find(hash, |v| {
                let (idx, dir) = decode(v);
                slab.get(idx as usize)
                    .is_some_and(|c| c.0.tuple(dir) == *key)
            })
            .map(|v| {
                let (idx, dir) = decode(v);
                Hit {
                    id: ConnId(idx),
                    dir,
                }
            })
    }

    /// The conn a packet with tuple `key` belongs to, and its direction.
    #[inline]
    pub fn lookup(&self, key: &Tuple<A>) -> Option<Hit> {
        self.find(key.hash_with(&self.seed), key)
    }

    /// Looks up a burst: `out[i]` gets the result for `keys[i]` (the shorter
    /// of the two slices bounds the work), exactly as [`ConnTable::lookup`]
    /// would. Per chunk of 32 keys: every hash and home bucket first, then
    /// every candidate conn, then the full comparisons, which find their
    /// lines in the cache (see the module comment).
    ///
    /// The loops that load are kept to a few instructions per key and free
    /// of branches on loaded data: the CPU runs ahead only as far as its
    /// reorder window, so the shorter they are, the more misses overlap
    /// (all 32, against about 10 for a loop that also hashes).
    pub fn lookup_burst(&self, keys: &[Tuple<A>], out: &mut [Option<Hit>]) {
        const CHUNK: usize = 32;
        for (keys, out) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let n = keys.len().min(out.len());
            let mut hashes = [0u64; CHUNK];
            let mut at = [0usize; CHUNK];
            for ((h, b), k) in hashes.iter_mut().zip(&mut at).zip(keys) {
                *h = k.hash_with(&self.seed);
                *b = self.index.home(*h);
            }
            let mut touched = 0u32;
            for &b in &at[..n] {
                touched ^= self.index.buckets.get(b).map_or(0, |b| b.over);
            }
            // The home buckets are in the cache now: pick each candidate.
            for (b, &h) in at[..n].iter_mut().zip(&hashes) {
                let v = self.index.candidate(h);
                *b = if v == NONE {
                    usize::MAX
                } else {
                    decode(v).0 as usize
                };
            }
            for &c in &at[..n] {
                touched ^= self.slab.get(c).map_or(0, |c| c.0.dest());
            }
            // The loads above are the point: keep them.
            black_box(touched);
            for ((o, k), &h) in out.iter_mut().zip(keys).zip(&hashes) {
                *o = self.find(h, k);
            }
        }
    }

    /// The live conn `id`.
    #[inline]
    pub fn get(&self, id: ConnId) -> Option<&Conn<A>> {
        self.slab
            .get(id.0 as usize)
            .map(|s| &s.0)
            .filter(|c| c.in_use())
    }

    /// Every live conn (for listings; walks the whole slab, so not for the
    /// packet path).
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn<A>)> {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, c)| c.0.in_use())
            .filter_map(|(i, c)| Some((ConnId(u32::try_from(i).ok()?), &c.0)))
    }

    /// Creates a conn in its initial state, counted inactive for its dest,
    /// expiring after the initial state's timeout. The caller then runs the
    /// creating packet through [`ConnTable::on_packet`], as IPVS does.
    pub fn insert(
        &mut self,
        new: &NewConn<A>,
        now: Time,
        cfg: &ConnConfig,
    ) -> Result<ConnId, InsertError> {
        if self.free == NIL {
            self.stats.full += 1;
            return Err(InsertError::Full);
        }
        let idx = self.free;
        let mut conn = Conn::new(new, now);
        conn.set_expires(Time::from_nanos(
            now.as_nanos()
                .saturating_add(cfg.timeouts.nanos(conn.state())),
        ));
        let in_key = conn.tuple(Dir::In);
        let in_hash = in_key.hash_with(&self.seed);
        let out = conn.fwd().sees_replies().then(|| {
            let k = conn.tuple(Dir::Out);
            (k, k.hash_with(&self.seed))
        });
        let taken = self.find(in_hash, &in_key).is_some()
            || out.is_some_and(|(k, h)| k == in_key || self.find(h, &k).is_some());
        if taken {
            self.stats.exists += 1;
            return Err(InsertError::Exists);
        }
        self.free = self.slab[idx as usize].0.link().free_next();
        self.slab[idx as usize] = Slot(conn);
        // Two entries per conn fit by construction (Index::new(2 * cap)).
        let mut fits = self.index.insert(in_hash, encode(idx, Dir::In));
        if let Some((_, h)) = out {
            fits &= self.index.insert(h, encode(idx, Dir::Out));
        }
        debug_assert!(fits, "index sized for two entries per conn");
        self.wheel.schedule(&mut self.slab, idx);
        self.len += 1;
        self.version += 1;
        self.stats.inserted += 1;
        Ok(ConnId(idx))
    }

    /// A packet of conn `id` in direction `dir` with TCP flags `tcp` (ignored
    /// for UDP and ICMP) arrived at `now`: steps the state machine and
    /// re-arms the timer with the new state's timeout. `None` if `id` is not
    /// a live conn.
    #[inline]
    pub fn on_packet(
        &mut self,
        id: ConnId,
        dir: Dir,
        tcp: TcpFlags,
        now: Time,
        cfg: &ConnConfig,
    ) -> Option<Transition> {
        let conn = &mut self.slab.get_mut(id.0 as usize).filter(|c| c.0.in_use())?.0;
        let tr = conn.transition(dir, tcp, cfg);
        conn.set_expires(Time::from_nanos(
            now.as_nanos().saturating_add(tr.timeout_nanos),
        ));
        self.wheel.schedule(&mut self.slab, id.0);
        Some(tr)
    }

    fn unindex(&mut self, idx: u32) {
        let conn = self.slab[idx as usize].0;
        let mut dirs = [Some(Dir::In), None];
        if conn.fwd().sees_replies() {
            dirs[1] = Some(Dir::Out);
        }
        for dir in dirs.into_iter().flatten() {
            let h = conn.tuple(dir).hash_with(&self.seed);
            let removed = self.index.remove(h, encode(idx, dir));
            debug_assert!(removed, "conn {idx} {dir:?} missing from index");
        }
    }

    fn release(&mut self, idx: u32) -> Conn<A> {
        self.unindex(idx);
        let conn = self.slab[idx as usize].0;
        let slot = &mut self.slab[idx as usize].0;
        *slot = Conn::EMPTY;
        slot.link_mut().set_free_next(self.free);
        self.free = idx;
        self.len -= 1;
        self.version += 1;
        conn
    }

    /// Removes conn `id` now (e.g. the operator flushed it). Returns it, so
    /// the caller can take it off its dest's counts (`counted_active`).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn<A>> {
        self.get(id)?;
        self.wheel.unlink(&mut self.slab, id.0);
        self.stats.removed += 1;
        Some(self.release(id.0))
    }

    /// Removes conns whose deadline is at or before `now`, handing each to
    /// `gone` (so the caller adjusts its dest's counts), doing at most
    /// `budget` units of work (see [`TimerWheel::pop_expired`]). Returns how
    /// many conns expired; what is left is done by the next call.
    pub fn expire(&mut self, now: Time, budget: u32, mut gone: impl FnMut(&Conn<A>)) -> u32 {
        let mut budget = budget;
        let mut n = 0;
        while let Some(idx) = self.wheel.pop_expired(&mut self.slab, now, &mut budget) {
            let conn = self.release(idx);
            self.stats.expired += 1;
            n += 1;
            gone(&conn);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{Fwd, Proto};
    use std::net::Ipv4Addr;

    fn nat(i: u32) -> NewConn<Ipv4Addr> {
        NewConn {
            proto: Proto::Tcp,
            fwd: Fwd::Nat,
            caddr: Ipv4Addr::from(0x0a00_0000 + i),
            cport: 1024,
            vaddr: Ipv4Addr::new(192, 0, 2, 1),
            vport: 80,
            laddr: Ipv4Addr::UNSPECIFIED,
            lport: 0,
            daddr: Ipv4Addr::new(10, 9, 0, 1),
            dport: 80,
            service: 0,
            dest: 0,
        }
    }

    #[test]
    fn index_overflow_chains_are_found_and_unwound() {
        // 4 buckets (28 ways); 20 entries whose hashes all share a home
        // bucket spill over three more buckets, wrapping round the end.
        let mut ix = Index::new(14);
        assert_eq!(ix.buckets.len(), 4);
        let hash = |i: u32| (u64::from(u32::MAX) << 32) | u64::from(i * 2 + 2);
        assert_eq!(ix.home(hash(0)), 3);
        for i in 0..20 {
            assert!(ix.insert(hash(i), i));
        }
        assert_eq!(
            ix.buckets.iter().map(|b| b.over).collect::<Vec<_>>(),
            [6, 0, 0, 13]
        );
        for i in 0..20 {
            assert_eq!(ix.find(hash(i), |v| v == i), Some(i), "{i}");
        }
        // Removing entries from the middle of the chain keeps the rest
        // reachable; removing all leaves no overflow count behind.
        for i in (0..20).step_by(3) {
            assert!(ix.remove(hash(i), i));
            assert!(!ix.remove(hash(i), i));
        }
        for i in 0..20 {
            let want = (i % 3 != 0).then_some(i);
            assert_eq!(ix.find(hash(i), |v| v == i), want, "{i}");
        }
        for i in (0..20).filter(|i| i % 3 != 0) {
            assert!(ix.remove(hash(i), i));
        }
        assert_eq!(ix.len, 0);
        assert!(ix.buckets.iter().all(|b| b.over == 0 && b.sig == [0; WAYS]));
        // Full: 28 ways, no more.
        for i in 0..28 {
            assert!(ix.insert(hash(i), i));
        }
        assert!(!ix.insert(hash(28), 28));
    }

    #[test]
    fn bad_capacity_is_refused() {
        assert_eq!(
            ConnTable::<Ipv4Addr>::with_capacity(0, 1).unwrap_err(),
            TableConfigError::BadCapacity
        );
        assert_eq!(
            ConnTable::<Ipv4Addr>::with_capacity(MAX_CAPACITY + 1, 1).unwrap_err(),
            TableConfigError::BadCapacity
        );
    }

    #[test]
    fn fills_slots_in_order_and_reuses_freed_ones() {
        let cfg = ConnConfig::default();
        let mut t = ConnTable::with_capacity(4, 9).unwrap();
        let ids: Vec<_> = (0..4)
            .map(|i| t.insert(&nat(i), Time::ZERO, &cfg).unwrap())
            .collect();
        assert_eq!(
            ids.iter().map(|i| i.index()).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        t.remove(ids[2]).unwrap();
        assert_eq!(t.insert(&nat(9), Time::ZERO, &cfg).unwrap().index(), 2);
        assert_eq!(t.remove(ConnId(7)), None);
        assert_eq!(t.index_len(), 8);
    }
}
