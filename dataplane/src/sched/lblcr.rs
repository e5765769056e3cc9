//! Locality-based least-connection with replication (`ip_vs_lblcr.c`): each
//! destination address maps to a *set* of dests. A pick takes the set's
//! weighted-least-loaded member; when that member is overloaded in lblc's
//! sense ([`super::lblc::is_overloaded`]) a dest is chosen among all dests as
//! wlc would and added to the set. A set with more than one member that was
//! not modified for the expiration time drops its most loaded member, so the
//! replication shrinks back when the load goes away.
//!
//! Sets are fixed arrays of [`SET_CAP`] members (newest first, as the
//! kernel's `list_add`); adding to a full set drops its oldest member. The
//! kernel's sets are unbounded, but a set only grows while every member is
//! overloaded, so real sets stay far below this.

use core::net::IpAddr;
use core::time::Duration;

use super::daddr_table::DaddrTable;
pub use super::daddr_table::CHECK_EXPIRE_INTERVAL;
use super::lblc::is_overloaded;
use super::wlc::weighted_least;
use super::{packed_overhead, DestSet};
use crate::time::Time;

/// Most dests in one daddr's set.
pub const SET_CAP: usize = 8;

/// `struct ip_vs_dest_set`: members newest first, and when it last changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DestSetEntry {
    len: u8,
    members: [u16; SET_CAP],
    lastmod: Time,
}

impl DestSetEntry {
    /// The members, newest first.
    pub fn members(&self) -> impl Iterator<Item = usize> + '_ {
        self.members[..usize::from(self.len)]
            .iter()
            .map(|&m| usize::from(m))
    }

    /// `ip_vs_dest_set_insert` with `check`: add `d` at the front unless it
    /// is a member already.
    fn insert(&mut self, d: u16, now: Time) {
        let len = usize::from(self.len);
        if self.members[..len].contains(&d) {
            return;
        }
        let keep = len.min(SET_CAP - 1);
        self.members.copy_within(0..keep, 1);
        self.members[0] = d;
        // keep + 1 <= SET_CAP = 8.
        self.len = u8::try_from(keep + 1).unwrap_or(u8::MAX);
        self.lastmod = now;
    }

    /// `ip_vs_dest_set_erase`.
    fn erase(&mut self, d: usize, now: Time) {
        let len = usize::from(self.len);
        if let Some(pos) = self.members[..len]
            .iter()
            .position(|&m| usize::from(m) == d)
        {
            self.members.copy_within(pos + 1..len, pos);
            self.len -= 1;
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_min`: the weighted least-loaded member that is not
    /// overloaded (first with weight > 0 seeds the search).
    fn min<D: DestSet + ?Sized>(&self, dests: &D) -> Option<usize> {
        let mut it = self
            .members()
            .filter(|&d| d < dests.len() && !dests.overloaded(d));
        let mut least = it.by_ref().find(|&d| dests.weight(d) > 0)?;
        let mut loh = dests.overhead(least);
        for d in it {
            let doh = dests.overhead(d);
            if loh * u64::from(dests.weight(d)) > doh * u64::from(dests.weight(least)) {
                least = d;
                loh = doh;
            }
        }
        Some(least)
    }

    /// `ip_vs_dest_set_max`: the weighted most-loaded member with weight > 0.
    fn max<D: DestSet + ?Sized>(&self, dests: &D) -> Option<usize> {
        let mut it = self.members().filter(|&d| d < dests.len());
        let mut most = it.by_ref().find(|&d| dests.weight(d) > 0)?;
        let mut moh = dests.overhead(most);
        for d in it {
            let doh = dests.overhead(d);
            // moh/mw < doh/dw  <=>  moh*dw < doh*mw, with mw, dw > 0.
            if moh * u64::from(dests.weight(d)) < doh * u64::from(dests.weight(most))
                && dests.weight(d) > 0
            {
                most = d;
                moh = doh;
            }
        }
        Some(most)
    }
}

/// One worker's lblcr table.
#[derive(Debug, Clone)]
pub struct LblcrTable {
    table: DaddrTable<DestSetEntry>,
    expiration: Duration,
}

impl LblcrTable {
    /// An empty table; `expiration` is the `lblcr_expiration` sysctl.
    pub fn new(expiration: Duration) -> Self {
        LblcrTable {
            table: DaddrTable::new(),
            expiration,
        }
    }

    /// An empty table of the given geometry.
    pub fn with_table(table: DaddrTable<DestSetEntry>, expiration: Duration) -> Self {
        LblcrTable { table, expiration }
    }

    /// The dest set cached for `daddr`, newest first.
    pub fn set(&self, daddr: &IpAddr) -> Option<DestSetEntry> {
        self.table.get(daddr).map(|(s, _)| *s)
    }

    /// `ip_vs_lblcr_schedule`.
    pub fn pick<D: DestSet + ?Sized>(
        &mut self,
        dests: &D,
        daddr: &IpAddr,
        now: Time,
    ) -> Option<usize> {
        let expiration = self.expiration;
        if let Some(set) = self.table.touch(daddr, now) {
            let dest = set.min(dests);
            // More than one member and unchanged for long: shrink.
            if set.len > 1 && now > set.lastmod + expiration {
                if let Some(m) = set.max(dests) {
                    set.erase(m, now);
                }
            }
            if let Some(d) = dest {
                if !is_overloaded(dests, d) {
                    return Some(d);
                }
            }
            let d = weighted_least(dests, packed_overhead)?;
            set.insert(u16::try_from(d).ok()?, now);
            return Some(d);
        }
        let d = weighted_least(dests, packed_overhead)?;
        let mut set = DestSetEntry::default();
        set.insert(u16::try_from(d).ok()?, now);
        self.table.insert(*daddr, now, set);
        Some(d)
    }

    /// The periodic collector (every [`CHECK_EXPIRE_INTERVAL`]).
    pub fn check_expire(&mut self, now: Time) {
        self.table.check_expire(now, self.expiration);
    }

    /// Follow dests to their new indices; removed dests leave their sets and
    /// emptied sets go.
    pub fn remap(&mut self, map: impl Fn(usize) -> Option<usize>) {
        self.table.retain(|set| {
            let mut out = DestSetEntry {
                len: 0,
                members: [0; SET_CAP],
                lastmod: set.lastmod,
            };
            for m in set.members() {
                if let Some(n) = map(m).and_then(|n| u16::try_from(n).ok()) {
                    out.members[usize::from(out.len)] = n;
                    out.len += 1;
                }
            }
            *set = out;
            out.len > 0
        });
    }
}
