//! The per-worker conn table: a preallocated slab of conns referred to by
//! `u32` index, a hashbrown index from tuple to (conn, direction), and the
//! expiry wheel.
//!
//! Everything is sized at construction and nothing allocates afterwards: a
//! full slab refuses new conns ([`InsertError::Full`], counted) and never
//! evicts established ones (IPVS likewise drops new conns when it cannot
//! allocate one). The index stores only a 4-byte word per direction
//! (`slab index << 1 | dir`); probing compares the tuple rebuilt from the
//! conn itself, so the conn's cache line, which the caller needs anyway, is
//! the only one touched besides the hashbrown group.
//!
//! Why the index is reserved at twice the entries it will ever hold:
//! hashbrown leaves tombstones on removal under high load and, when they use
//! up its growth margin, rehashes; it rehashes in place (no allocation) only
//! while the table is at most half full, and reallocates otherwise. Keeping
//! at most `2 * capacity` entries in a table reserved for `4 * capacity + 2`
//! makes every such rehash in place, and at that load (under 44 %) removals
//! almost never leave tombstones, so it stays a theoretical stall, not a
//! growth. `memory_bytes` reports the real footprint.

use super::key::{ConnAddr, HashSeed, Tuple};
use super::state::{ConnConfig, TcpFlags, Transition};
use super::timer::{Timed, TimerWheel, WheelConfig, WheelConfigError, NIL};
use super::{Conn, ConnId, Dir, NewConn};
use crate::time::Time;
use hashbrown::HashTable;

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

/// The conn table of one worker.
#[derive(Debug)]
pub struct ConnTable<A: ConnAddr> {
    slab: Vec<Conn<A>>,
    index: HashTable<u32>,
    wheel: TimerWheel,
    seed: HashSeed,
    /// Head of the free slot list, linked through the timer links.
    free: u32,
    len: u32,
    stats: TableStats,
    /// Index allocation at construction, to check it never changes.
    index_bytes: usize,
}

#[inline]
fn encode(idx: u32, dir: Dir) -> u32 {
    (idx << 1) | dir as u32
}

#[inline]
fn decode(v: u32) -> (u32, Dir) {
    (v >> 1, if v & 1 == 0 { Dir::In } else { Dir::Out })
}

/// The hash of the tuple an index word stands for (hashbrown's rehasher).
#[inline]
fn rehash<A: ConnAddr>(slab: &[Conn<A>], seed: &HashSeed, v: u32) -> u64 {
    let (idx, dir) = decode(v);
    slab[idx as usize].tuple(dir).hash_with(seed)
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
        let mut slab = vec![Conn::EMPTY; cap];
        // Free list in index order, so a fresh table fills from slot 0.
        for (i, c) in slab.iter_mut().enumerate() {
            let next = u32::try_from(i + 1)
                .ok()
                .filter(|&n| n < cfg.capacity)
                .unwrap_or(NIL);
            c.link_mut().set_free_next(next);
        }
        let index = HashTable::with_capacity(cap * 4 + 2);
        let index_bytes = index.allocation_size();
        Ok(ConnTable {
            slab,
            index,
            wheel,
            seed: HashSeed::new(cfg.seed),
            free: 0,
            len: 0,
            stats: TableStats::default(),
            index_bytes,
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

    /// Heap bytes held: slab, hash index (buckets and control bytes, as
    /// hashbrown allocated them) and wheel heads.
    pub fn memory_bytes(&self) -> usize {
        self.slab.capacity() * core::mem::size_of::<Conn<A>>()
            + self.index.allocation_size()
            + self.wheel.heap_bytes()
    }

    /// Bytes of the hash index alone.
    pub fn index_bytes(&self) -> usize {
        self.index.allocation_size()
    }

    /// Entries in the hash index (one or two per conn).
    pub fn index_len(&self) -> usize {
        self.index.len()
    }

    #[inline]
    fn find(&self, hash: u64, key: &Tuple<A>) -> Option<Hit> {
        let slab = &self.slab;
        self.index
            .find(hash, |&v| {
                let (idx, dir) = decode(v);
                slab[idx as usize].tuple(dir) == *key
            })
            .map(|&v| {
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
    /// of the two slices bounds the work). All hashes of a chunk are computed
    /// before any probe, so the probes carry no dependency on one another
    /// and the CPU overlaps their cache misses; software prefetch would need
    /// `unsafe` intrinsics, which this crate forbids.
    pub fn lookup_burst(&self, keys: &[Tuple<A>], out: &mut [Option<Hit>]) {
        const CHUNK: usize = 32;
        for (keys, out) in keys.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let mut hashes = [0u64; CHUNK];
            for (h, k) in hashes.iter_mut().zip(keys) {
                *h = k.hash_with(&self.seed);
            }
            for ((o, k), h) in out.iter_mut().zip(keys).zip(hashes) {
                *o = self.find(h, k);
            }
        }
    }

    /// The live conn `id`.
    #[inline]
    pub fn get(&self, id: ConnId) -> Option<&Conn<A>> {
        self.slab.get(id.0 as usize).filter(|c| c.in_use())
    }

    /// Every live conn (for listings; walks the whole slab, so not for the
    /// packet path).
    pub fn iter(&self) -> impl Iterator<Item = (ConnId, &Conn<A>)> {
        self.slab
            .iter()
            .enumerate()
            .filter(|(_, c)| c.in_use())
            .filter_map(|(i, c)| Some((ConnId(u32::try_from(i).ok()?), c)))
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
        self.free = self.slab[idx as usize].link().free_next();
        self.slab[idx as usize] = conn;
        let (slab, seed) = (&self.slab, &self.seed);
        self.index
            .insert_unique(in_hash, encode(idx, Dir::In), |&v| rehash(slab, seed, v));
        if let Some((_, h)) = out {
            self.index
                .insert_unique(h, encode(idx, Dir::Out), |&v| rehash(slab, seed, v));
        }
        debug_assert_eq!(self.index.allocation_size(), self.index_bytes, "index grew");
        self.wheel.schedule(&mut self.slab, idx);
        self.len += 1;
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
        let conn = self.slab.get_mut(id.0 as usize).filter(|c| c.in_use())?;
        let tr = conn.transition(dir, tcp, cfg);
        conn.set_expires(Time::from_nanos(
            now.as_nanos().saturating_add(tr.timeout_nanos),
        ));
        self.wheel.schedule(&mut self.slab, id.0);
        Some(tr)
    }

    fn unindex(&mut self, idx: u32) {
        let conn = self.slab[idx as usize];
        let mut dirs = [Some(Dir::In), None];
        if conn.fwd().sees_replies() {
            dirs[1] = Some(Dir::Out);
        }
        for dir in dirs.into_iter().flatten() {
            let v = encode(idx, dir);
            let h = conn.tuple(dir).hash_with(&self.seed);
            let removed = self.index.find_entry(h, |&e| e == v).map(|e| e.remove());
            debug_assert!(removed.is_ok(), "conn {idx} {dir:?} missing from index");
        }
    }

    fn release(&mut self, idx: u32) -> Conn<A> {
        self.unindex(idx);
        let conn = self.slab[idx as usize];
        let slot = &mut self.slab[idx as usize];
        *slot = Conn::EMPTY;
        slot.link_mut().set_free_next(self.free);
        self.free = idx;
        self.len -= 1;
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
