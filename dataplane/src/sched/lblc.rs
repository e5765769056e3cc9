//! Locality-based least-connection (`ip_vs_lblc.c`), for cache clusters: a
//! table maps each destination address (daddr) to the dest that served it.
//! A cached dest is used again while it has weight > 0 and is not
//! "overloaded" in lblc's own sense ([`is_overloaded`]: more active conns
//! than its weight while some dest is below half of its weight); otherwise a
//! dest is chosen as wlc would and the entry is replaced.
//!
//! As in the kernel, the cached path does not look at the threshold flag
//! (`IP_VS_DEST_F_OVERLOAD`); only the wlc step skips flagged dests.
//! Entries are refreshed on every hit and collected by
//! [`LblcTable::check_expire`] (see [`super::daddr_table`]).

use core::net::IpAddr;
use core::time::Duration;

use super::daddr_table::DaddrTable;
pub use super::daddr_table::CHECK_EXPIRE_INTERVAL;
use super::wlc::weighted_least;
use super::{packed_active, packed_overhead, DestSet};
use crate::time::Time;

/// lblc/lblcr's `is_overloaded`: dest `d` has more active conns than its
/// weight, and there is a dest with active conns below half its weight.
pub fn is_overloaded<D: DestSet + ?Sized>(dests: &D, d: usize) -> bool {
    dests.active(d) > dests.weight(d) && {
        // Raw weights: an overloaded (flagged) dest still counts here, as
        // in the kernel.
        let mut below = false;
        dests.walk(true, |_, w, _, conns| {
            below = packed_active(conns) * 2 < u64::from(w);
            !below
        });
        below
    }
}

/// One worker's lblc table.
#[derive(Debug, Clone)]
pub struct LblcTable {
    table: DaddrTable<u16>,
    expiration: Duration,
}

impl LblcTable {
    /// An empty table; `expiration` is the `lblc_expiration` sysctl.
    pub fn new(expiration: Duration) -> Self {
        LblcTable {
            table: DaddrTable::new(),
            expiration,
        }
    }

    /// An empty table of the given geometry (see
    /// [`DaddrTable::with_geometry`]).
    pub fn with_table(table: DaddrTable<u16>, expiration: Duration) -> Self {
        LblcTable { table, expiration }
    }

    /// The cached dest for `daddr`, if any.
    pub fn cached(&self, daddr: &IpAddr) -> Option<usize> {
        self.table.get(daddr).map(|(d, _)| usize::from(*d))
    }

    /// Number of cached daddrs.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// `ip_vs_lblc_schedule`.
    pub fn pick<D: DestSet + ?Sized>(
        &mut self,
        dests: &D,
        daddr: &IpAddr,
        now: Time,
    ) -> Option<usize> {
        if let Some(&mut d) = self.table.touch(daddr, now) {
            let d = usize::from(d);
            // "Available" in the kernel: the dest still belongs to the service.
            if d < dests.len() && dests.weight(d) > 0 && !is_overloaded(dests, d) {
                return Some(d);
            }
        }
        let d = weighted_least(dests, packed_overhead)?;
        // ip_vs_lblc_new: a same-dest entry is kept, any other replaced.
        let idx = u16::try_from(d).ok()?;
        if self.cached(daddr) != Some(d) {
            self.table.insert(*daddr, now, idx);
        }
        Some(d)
    }

    /// The periodic collector (every [`CHECK_EXPIRE_INTERVAL`]).
    pub fn check_expire(&mut self, now: Time) {
        self.table.check_expire(now, self.expiration);
    }

    /// Follow dests to their new indices after a dest-set change; entries of
    /// removed dests go (the kernel would find them unavailable and replace
    /// them on next use).
    pub fn remap(&mut self, map: impl Fn(usize) -> Option<usize>) {
        self.table.retain(
            |d| match map(usize::from(*d)).and_then(|n| u16::try_from(n).ok()) {
                Some(n) => {
                    *d = n;
                    true
                }
                None => false,
            },
        );
    }
}
