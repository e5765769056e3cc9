//! The fixed-capacity table behind lblc and lblcr: daddr -> entry, with the
//! kernel's `lastuse` stamps and its periodic garbage collector
//! (`ip_vs_lblc_check_expire` / `ip_vs_lblcr_check_expire`).
//!
//! The kernel chains `kmalloc`ed entries in 1024 hash buckets and only
//! bounds them softly (`max_size` = 16 per bucket, enforced by the collector).
//! A worker must not allocate per packet, so here every bucket has a fixed
//! number of ways, all allocated when the table is created; inserting into a
//! full bucket evicts its least recently used entry, which is the entry the
//! kernel's collector would have removed first. Everything else (when entries
//! are created, refreshed, replaced and collected) follows the kernel.
//!
//! Each worker has its own table (workers share nothing mutable), so the
//! locality cache is per worker: a daddr seen by two workers may be mapped by
//! each, to the same dest as long as the least-connection choice agrees.

use core::net::IpAddr;
use core::time::Duration;

use super::{addr_fold, hash_32};
use crate::time::Time;

/// `CHECK_EXPIRE_INTERVAL`: how often the collector is meant to run.
pub const CHECK_EXPIRE_INTERVAL: Duration = Duration::from_secs(60);
/// `ENTRY_TIMEOUT`: idle time after which an entry may be collected when the
/// table is over `max_size`.
pub const ENTRY_TIMEOUT: Duration = Duration::from_secs(6 * 60);
/// `COUNT_FOR_FULL_EXPIRATION`: every 30th collector run is a full check.
pub const COUNT_FOR_FULL_EXPIRATION: u32 = 30;
/// `IP_VS_LBLC_TAB_BITS` / `IP_VS_LBLCR_TAB_BITS` default.
pub const TAB_BITS: u32 = 10;
/// Ways per bucket: capacity is `16 << TAB_BITS`, the kernel's `max_size`.
pub const WAYS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Slot<V> {
    addr: IpAddr,
    lastuse: Time,
    used: bool,
    val: V,
}

/// A daddr-keyed table of `V` with kernel-style expiry.
#[derive(Debug, Clone)]
pub struct DaddrTable<V> {
    slots: Box<[Slot<V>]>,
    bits: u32,
    ways: usize,
    entries: usize,
    max_size: usize,
    rover: usize,
    counter: u32,
}

impl<V: Copy + Default> DaddrTable<V> {
    /// The kernel geometry: 1024 buckets, `max_size` 16384.
    pub fn new() -> Self {
        Self::with_geometry(TAB_BITS, WAYS, WAYS << TAB_BITS)
    }

    /// `2^bits` buckets (bits 1..=16) of `ways` slots, collector threshold
    /// `max_size`. Allocates.
    pub fn with_geometry(bits: u32, ways: usize, max_size: usize) -> Self {
        let bits = bits.clamp(1, 16);
        let ways = ways.max(1);
        let empty = Slot {
            addr: IpAddr::from([0u8; 4]),
            lastuse: Time::ZERO,
            used: false,
            val: V::default(),
        };
        DaddrTable {
            slots: vec![empty; ways << bits].into_boxed_slice(),
            bits,
            ways,
            entries: 0,
            max_size,
            rover: 0,
            counter: 1,
        }
    }

    fn buckets(&self) -> usize {
        1 << self.bits
    }

    fn bucket_range(&self, b: usize) -> core::ops::Range<usize> {
        b * self.ways..(b + 1) * self.ways
    }

    /// `ip_vs_lblc_hashkey`: `hash_32` of the folded address.
    fn bucket_of(&self, addr: &IpAddr) -> usize {
        // bits <= 16: the hash is below 2^16 and fits usize.
        hash_32(addr_fold(addr), self.bits) as usize
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The entry for `addr`: its value and last use.
    pub fn get(&self, addr: &IpAddr) -> Option<(&V, Time)> {
        let r = self.bucket_range(self.bucket_of(addr));
        self.slots[r]
            .iter()
            .find(|s| s.used && s.addr == *addr)
            .map(|s| (&s.val, s.lastuse))
    }

    /// The entry for `addr`, mutable, with its `lastuse` set to `now`.
    pub fn touch(&mut self, addr: &IpAddr, now: Time) -> Option<&mut V> {
        let r = self.bucket_range(self.bucket_of(addr));
        let s = self.slots[r]
            .iter_mut()
            .find(|s| s.used && s.addr == *addr)?;
        s.lastuse = now;
        Some(&mut s.val)
    }

    /// Insert or replace the entry for `addr` with `lastuse = now`. A full
    /// bucket gives up its least recently used entry.
    pub fn insert(&mut self, addr: IpAddr, now: Time, val: V) {
        let r = self.bucket_range(self.bucket_of(&addr));
        let bucket = &mut self.slots[r];
        let way = bucket
            .iter()
            .position(|s| s.used && s.addr == addr)
            .or_else(|| bucket.iter().position(|s| !s.used))
            .unwrap_or_else(|| {
                let lru = bucket.iter().enumerate().min_by_key(|(_, s)| s.lastuse);
                lru.map_or(0, |(w, _)| w)
            });
        let slot = &mut bucket[way];
        if !slot.used {
            self.entries += 1;
        }
        *slot = Slot {
            addr,
            lastuse: now,
            used: true,
            val,
        };
    }

    /// Apply `f` to every entry; entries for which it answers `false` go.
    pub fn retain(&mut self, mut f: impl FnMut(&mut V) -> bool) {
        for s in self.slots.iter_mut().filter(|s| s.used) {
            if !f(&mut s.val) {
                s.used = false;
                self.entries -= 1;
            }
        }
    }

    /// Remove, in buckets from `rover + 1` on, the entries idle for at least
    /// `idle`; stop after a bucket once `goal` entries went (no goal: all
    /// buckets). Returns how many went.
    fn collect(&mut self, now: Time, idle: Duration, mut goal: Option<usize>) -> usize {
        let mut removed = 0;
        let mut j = self.rover;
        for _ in 0..self.buckets() {
            j = (j + 1) & (self.buckets() - 1);
            let r = self.bucket_range(j);
            for s in self.slots[r].iter_mut().filter(|s| s.used) {
                // time_before(now, lastuse + idle): still fresh.
                if now < s.lastuse + idle {
                    continue;
                }
                s.used = false;
                removed += 1;
                if let Some(g) = goal.as_mut() {
                    *g = g.saturating_sub(1);
                }
            }
            if goal == Some(0) {
                break;
            }
        }
        self.entries -= removed;
        self.rover = j;
        removed
    }

    /// The periodic collector (`ip_vs_lblc_check_expire`), meant to run
    /// every [`CHECK_EXPIRE_INTERVAL`]: every 30th run removes all entries
    /// unused for `expiration` (the `lblc_expiration` sysctl); the other runs
    /// do nothing unless the table is over `max_size`, and then remove
    /// entries idle for [`ENTRY_TIMEOUT`] until 4/3 of the excess (at most
    /// half of `max_size`) went.
    pub fn check_expire(&mut self, now: Time, expiration: Duration) {
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            self.collect(now, expiration, None);
            self.counter = 1;
            return;
        }
        if self.entries <= self.max_size {
            self.counter += 1;
            return;
        }
        let goal = ((self.entries - self.max_size) * 4 / 3).min(self.max_size / 2);
        self.collect(now, ENTRY_TIMEOUT, Some(goal));
    }
}

impl<V: Copy + Default> Default for DaddrTable<V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(i: u32) -> IpAddr {
        core::net::Ipv4Addr::from(i).into()
    }

    #[test]
    fn insert_get_replace_evict() {
        let mut t: DaddrTable<u16> = DaddrTable::with_geometry(1, 2, 4);
        let t0 = Time::from_secs(1);
        for i in 0..4 {
            t.insert(ip(i), t0 + Duration::from_secs(u64::from(i)), 7);
        }
        t.insert(ip(1), t0, 9);
        assert_eq!(t.get(&ip(1)).map(|(v, _)| *v), Some(9));
        // Fill whichever bucket ip(100) lands in: its oldest entry goes.
        let before = t.len();
        t.insert(ip(100), t0 + Duration::from_secs(100), 1);
        assert!(t.len() <= before + 1 && t.len() <= 4);
        assert_eq!(t.get(&ip(100)).map(|(v, _)| *v), Some(1));
    }

    #[test]
    fn full_check_every_30th_run_and_goal_when_oversized() {
        let exp = Duration::from_secs(3600);
        let mut t: DaddrTable<u16> = DaddrTable::with_geometry(4, 8, 4);
        for i in 0..10 {
            t.insert(ip(i * 7919), Time::ZERO, 1);
        }
        assert_eq!(t.len(), 10);
        // Over max_size (4) but nothing idle for ENTRY_TIMEOUT yet.
        t.check_expire(Time::from_secs(60), exp);
        assert_eq!(t.len(), 10);
        // Idle long enough: goal = (10 - 4) * 4 / 3 = 8, capped at 4 / 2 = 2,
        // checked per bucket, so at least 2 go, bucket by bucket.
        t.check_expire(Time::from_secs(400), exp);
        assert!(t.len() <= 8 && t.len() >= 2, "{}", t.len());
        // Under max_size: counter runs up to the full check (counter 30).
        let mut u: DaddrTable<u16> = DaddrTable::with_geometry(4, 8, 100);
        u.insert(ip(1), Time::ZERO, 1);
        u.insert(ip(2), Time::from_secs(4000), 1);
        for _ in 0..29 {
            u.check_expire(Time::from_secs(4000), exp);
        }
        assert_eq!(u.len(), 2, "no full check in the first 29 runs");
        u.check_expire(Time::from_secs(4000), exp);
        assert_eq!(u.len(), 1, "full check drops the entry unused for an hour");
    }
}
