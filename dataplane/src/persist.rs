//! Persistence templates (`ipvsadm -p timeout -M netmask`), as IPVS's
//! `ip_vs_sched_persist` keeps them: a template maps (service, client
//! network) to the dest that client network was first scheduled to; later
//! conns from the same network to the same service go there without asking
//! the scheduler.
//!
//! - The service says which kind: a port-0 service gives persistent client
//!   connection (PCC: every port of the VIP follows the template), a service
//!   with a port persistent port connection (PPC), a mark service persistent
//!   firewall-mark connection (PFWMC: everything under the mark). All three
//!   are one key here, (service id, client address masked by `-M`), since
//!   the service id already names the VIP, port or mark.
//! - Lifetime: a template is refreshed to `now + timeout` by every conn it
//!   makes, and while conns it made still live it does not expire (IPVS
//!   re-arms a template timer whose `n_control` is not zero); once the last
//!   one is gone it expires `timeout` after its last use.
//! - A template whose dest was removed or quiesced (weight 0) stops
//!   attracting conns: the caller removes it and schedules afresh
//!   (`ip_vs_check_template`, with `expire_quiescent_template` semantics).
//!
//! Templates live in the worker that owns the client network: every new
//! conn of a persistent service goes to [`crate::fwd::nat_owner`] of the
//! client address masked by `-M` (by the whole address when a dest is NAT,
//! since a NAT conn must live where its replies arrive), so one network has
//! one template, as on a kernel director. The one exception: a NAT service
//! with `-M` shorter than /32 on several workers keeps one template per
//! client address's worker, so two addresses of one network may be sent to
//! different dests.
//! Storage is a slab sized at construction plus a hashbrown index reserved
//! for it; expiry is a budgeted sweep over the slab (template timeouts are
//! minutes, so a sweep that takes a few loops costs nothing).
//!
//! The table also counts its templates per dest slot, the worker's share of
//! `ipvsadm -L --persistent-conn`'s PersistConn (IPVS's
//! `dest->persistconns`, which `ip_vs_bind_dest` raises for a template and
//! `ip_vs_unbind_dest` lowers). The counts change with the templates, on the
//! single worker that owns the table; the control core sums the workers'
//! copies. Each slot also remembers the service its templates belong to, so
//! that a snapshot which takes the slot away from that service (the dest was
//! deleted, the slot handed to another dest) is noticed in O(slots) and the
//! templates still naming it are forgotten ([`Templates::forget_dests`]).

use crate::time::Time;
use core::time::Duration;
use hashbrown::HashMap;
use std::net::Ipv4Addr;

/// What a template is found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    /// Service id.
    pub service: u32,
    /// Client network (address with host bits cleared by the netmask).
    pub cnet: Ipv4Addr,
}

impl TemplateKey {
    /// The key for client `caddr` under a `netmask_len`-bit netmask.
    pub fn new(service: u32, caddr: Ipv4Addr, netmask_len: u8) -> Self {
        TemplateKey {
            service,
            cnet: client_net(caddr, netmask_len),
        }
    }
}

/// `caddr`'s network under a `netmask_len`-bit netmask (`-M`): all but its
/// first `netmask_len` bits cleared.
pub fn client_net(caddr: Ipv4Addr, netmask_len: u8) -> Ipv4Addr {
    let mask = match netmask_len.min(32) {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n)),
    };
    Ipv4Addr::from(u32::from(caddr) & mask)
}

#[derive(Debug, Clone, Copy)]
struct Template {
    key: TemplateKey,
    /// Dest slot the template sends conns to.
    slot: u32,
    /// Live conns it made.
    conns: u32,
    expires: Time,
    timeout: Duration,
    in_use: bool,
}

const EMPTY: Template = Template {
    key: TemplateKey {
        service: 0,
        cnet: Ipv4Addr::UNSPECIFIED,
    },
    slot: 0,
    conns: 0,
    expires: Time::ZERO,
    timeout: Duration::ZERO,
    in_use: false,
};

/// The table is full: no template, so no conn (IPVS refuses the conn when
/// it cannot allocate its template).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplatesFull;

/// One worker's persistence templates.
#[derive(Debug)]
pub struct Templates {
    slab: Vec<Template>,
    index: HashMap<TemplateKey, u32>,
    free: Vec<u32>,
    cursor: usize,
    /// Live templates per dest slot.
    per_slot: Vec<u32>,
    /// The service id the templates of each slot belong to (meaningful
    /// while the slot's count is not zero).
    slot_service: Vec<u32>,
}

impl Templates {
    /// A table for at most `capacity` templates, all allocated here.
    pub fn new(capacity: u32) -> Self {
        let cap = usize::try_from(capacity.max(1)).unwrap_or(1);
        Templates {
            slab: vec![EMPTY; cap],
            index: HashMap::with_capacity(cap),
            free: (0..capacity.max(1)).rev().collect(),
            cursor: 0,
            per_slot: Vec::new(),
            slot_service: Vec::new(),
        }
    }

    /// Makes room for the counts of dest slots `0..slots`, so that binding a
    /// template never allocates on the packet path (the worker calls it when
    /// it installs a snapshot).
    pub fn reserve_slots(&mut self, slots: usize) {
        if self.per_slot.len() < slots {
            self.per_slot.resize(slots, 0);
            self.slot_service.resize(slots, 0);
        }
    }

    /// Live templates per dest slot (index = slot; slots past the end have
    /// none): this worker's PersistConn of each dest.
    pub fn per_slot(&self) -> &[u32] {
        &self.per_slot
    }

    /// Live templates pointing at dest slot `slot`.
    pub fn at_slot(&self, slot: u32) -> u32 {
        usize::try_from(slot)
            .ok()
            .and_then(|s| self.per_slot.get(s))
            .copied()
            .unwrap_or(0)
    }

    fn count_in(&mut self, slot: u32, service: u32) {
        let s = usize::try_from(slot).unwrap_or(usize::MAX);
        if s >= self.per_slot.len() {
            // Only when the caller did not reserve the slot (a slot number
            // is bounded by the dest table size, so this stays rare).
            self.reserve_slots(s.saturating_add(1));
        }
        if let (Some(n), Some(owner)) = (self.per_slot.get_mut(s), self.slot_service.get_mut(s)) {
            *n = n.saturating_add(1);
            *owner = service;
        }
    }

    fn count_out(&mut self, slot: u32) {
        if let Some(n) = usize::try_from(slot)
            .ok()
            .and_then(|s| self.per_slot.get_mut(s))
        {
            *n = n.saturating_sub(1);
        }
    }

    /// Forgets every template whose (service id, dest slot) `live` refuses:
    /// its dest left the service, so it can attract no conn again (IPVS
    /// would reschedule on the next use, `ip_vs_check_template`) and must
    /// not be counted for whichever dest gets the slot next. The slab is
    /// walked only when some slot's templates are refused, so a snapshot
    /// swap that removed no dest holding templates costs O(slots). Conns
    /// those templates made keep running. Returns how many went.
    pub fn forget_dests(&mut self, live: impl Fn(u32, u32) -> bool) -> usize {
        let stale = self
            .per_slot
            .iter()
            .zip(&self.slot_service)
            .enumerate()
            .any(|(slot, (&n, &service))| {
                n > 0 && !u32::try_from(slot).is_ok_and(|slot| live(service, slot))
            });
        if !stale {
            return 0;
        }
        let mut gone = 0;
        for i in 0..self.slab.len() {
            let t = self.slab[i];
            if t.in_use && !live(t.key.service, t.slot) {
                self.remove(&t.key);
                gone += 1;
            }
        }
        gone
    }

    /// Every live template as (key, dest slot, time left at `now`), for
    /// listings. A template that still has conns does not expire; it shows
    /// its full timeout, as IPVS re-arms such a template's timer.
    pub fn iter(&self, now: Time) -> impl Iterator<Item = (TemplateKey, u32, Duration)> + '_ {
        self.slab.iter().filter(|t| t.in_use).map(move |t| {
            let left = t.expires.saturating_since(now);
            let left = if t.conns > 0 && left.is_zero() {
                t.timeout
            } else {
                left
            };
            (t.key, t.slot, left)
        })
    }

    /// Live templates.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// True with no template.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The dest slot of the template for `key`, and the conns it has.
    pub fn get(&self, key: &TemplateKey) -> Option<(u32, u32)> {
        let t = &self.slab[*self.index.get(key)? as usize];
        Some((t.slot, t.conns))
    }

    /// When the template for `key` expires if it makes no more conns.
    pub fn expires(&self, key: &TemplateKey) -> Option<Time> {
        Some(self.slab[*self.index.get(key)? as usize].expires)
    }

    /// Forgets the template for `key` (its dest went away or was quiesced);
    /// conns it made keep running.
    pub fn remove(&mut self, key: &TemplateKey) {
        if let Some(i) = self.index.remove(key) {
            let slot = self.slab[i as usize].slot;
            self.slab[i as usize] = EMPTY;
            self.free.push(i);
            self.count_out(slot);
        }
    }

    /// A conn was made through the template for `key` to dest `slot`:
    /// creates the template if there is none, counts the conn and refreshes
    /// its deadline to `now + timeout`.
    pub fn bind(
        &mut self,
        key: TemplateKey,
        slot: u32,
        now: Time,
        timeout: Duration,
    ) -> Result<(), TemplatesFull> {
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                let i = self.free.pop().ok_or(TemplatesFull)?;
                self.slab[i as usize] = Template {
                    key,
                    slot,
                    conns: 0,
                    expires: now,
                    timeout,
                    in_use: true,
                };
                self.index.insert(key, i);
                self.count_in(slot, key.service);
                i
            }
        };
        let moved_from = self.slab[i as usize].slot;
        if moved_from != slot {
            // Callers remove a template before sending its client elsewhere;
            // should one be re-pointed anyway, it moves between counts.
            self.count_out(moved_from);
            self.count_in(slot, key.service);
        }
        let t = &mut self.slab[i as usize];
        t.slot = slot;
        t.conns = t.conns.saturating_add(1);
        t.timeout = timeout;
        t.expires = t.expires.max(now + timeout);
        Ok(())
    }

    /// A conn made through the template for `key` to `slot` went away.
    pub fn unbind(&mut self, key: &TemplateKey, slot: u32) {
        if let Some(&i) = self.index.get(key) {
            let t = &mut self.slab[i as usize];
            if t.slot == slot {
                t.conns = t.conns.saturating_sub(1);
            }
        }
    }

    /// Looks at up to `budget` slab entries from where the last sweep
    /// stopped: a template past its deadline goes if it has no conns, and is
    /// re-armed for its timeout otherwise. Returns how many went.
    pub fn expire(&mut self, now: Time, budget: usize) -> usize {
        // The worker calls this on every poll round: with no template alive
        // (no persistent service, or none used lately) there is nothing to
        // look at, and the sweep costs one branch.
        if self.index.is_empty() {
            return 0;
        }
        let mut gone = 0;
        let len = self.slab.len();
        for _ in 0..budget.min(len) {
            let i = self.cursor;
            self.cursor = if i + 1 == len { 0 } else { i + 1 };
            let t = &mut self.slab[i];
            if !t.in_use || t.expires > now {
                continue;
            }
            if t.conns > 0 {
                t.expires = now + t.timeout;
                continue;
            }
            let key = t.key;
            self.remove(&key);
            gone += 1;
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lives_while_it_has_conns_then_for_its_timeout() {
        let mut t = Templates::new(2);
        let k = TemplateKey::new(7, Ipv4Addr::new(192, 0, 2, 77), 24);
        assert_eq!(k.cnet, Ipv4Addr::new(192, 0, 2, 0));
        let timeout = Duration::from_secs(360);
        t.bind(k, 3, Time::ZERO, timeout).unwrap();
        assert_eq!(t.get(&k), Some((3, 1)));
        // Past its deadline with a conn: re-armed, not gone.
        assert_eq!(t.expire(Time::from_secs(400), 10), 0);
        assert_eq!(t.expires(&k), Some(Time::from_secs(760)));
        t.unbind(&k, 3);
        assert_eq!(t.expire(Time::from_secs(700), 10), 0);
        assert_eq!(t.expire(Time::from_secs(760), 10), 1);
        assert!(t.is_empty());
        // Full table.
        let k2 = TemplateKey::new(7, Ipv4Addr::new(192, 0, 3, 1), 24);
        let k3 = TemplateKey::new(7, Ipv4Addr::new(192, 0, 4, 1), 24);
        t.bind(k, 1, Time::ZERO, timeout).unwrap();
        t.bind(k2, 1, Time::ZERO, timeout).unwrap();
        assert_eq!(t.bind(k3, 1, Time::ZERO, timeout), Err(TemplatesFull));
        t.remove(&k);
        assert!(t.bind(k3, 1, Time::ZERO, timeout).is_ok());
        assert_eq!(
            TemplateKey::new(1, Ipv4Addr::new(1, 2, 3, 4), 0).cnet,
            Ipv4Addr::UNSPECIFIED
        );
    }

    #[test]
    fn counts_templates_per_dest_slot() {
        let mut t = Templates::new(8);
        t.reserve_slots(4);
        let timeout = Duration::from_secs(60);
        let key = |c: u8| TemplateKey::new(7, Ipv4Addr::new(192, 0, 2, c), 32);
        // Two clients on slot 1, one on slot 3; a second conn through the
        // same template counts no second template.
        t.bind(key(1), 1, Time::ZERO, timeout).unwrap();
        t.bind(key(2), 1, Time::ZERO, timeout).unwrap();
        t.bind(key(3), 3, Time::ZERO, timeout).unwrap();
        t.bind(key(1), 1, Time::from_secs(1), timeout).unwrap();
        assert_eq!(t.per_slot(), &[0, 2, 0, 1]);
        assert_eq!((t.at_slot(1), t.at_slot(3), t.at_slot(99)), (2, 1, 0));

        // Removal (dest quiesced) takes one off its slot.
        t.remove(&key(2));
        assert_eq!(t.per_slot(), &[0, 1, 0, 1]);
        t.remove(&key(2));
        assert_eq!(t.per_slot(), &[0, 1, 0, 1], "removing twice counts once");

        // Expiry: key(3) has no conn after its unbind and goes at 60 s;
        // key(1) still has two conns and stays.
        t.unbind(&key(3), 3);
        t.unbind(&key(1), 1);
        assert_eq!(t.expire(Time::from_secs(61), 8), 1);
        assert_eq!(t.per_slot(), &[0, 1, 0, 0]);
        t.unbind(&key(1), 1);
        assert_eq!(t.expire(Time::from_secs(200), 8), 1);
        assert_eq!(t.per_slot(), &[0, 0, 0, 0]);
        assert!(t.is_empty());

        // A slot past the reserved ones still counts (the table grows).
        t.bind(key(4), 6, Time::ZERO, timeout).unwrap();
        assert_eq!(t.at_slot(6), 1);
        assert_eq!(t.per_slot().len(), 7);
        // A template re-pointed at another slot moves between the counts.
        t.bind(key(4), 2, Time::ZERO, timeout).unwrap();
        assert_eq!((t.at_slot(6), t.at_slot(2)), (0, 1));
    }

    #[test]
    fn forgets_templates_whose_dest_left_the_service() {
        let mut t = Templates::new(8);
        t.reserve_slots(4);
        let timeout = Duration::from_secs(60);
        let a = TemplateKey::new(7, Ipv4Addr::new(192, 0, 2, 1), 32);
        let b = TemplateKey::new(7, Ipv4Addr::new(192, 0, 2, 2), 32);
        let c = TemplateKey::new(9, Ipv4Addr::new(192, 0, 2, 1), 32);
        t.bind(a, 0, Time::ZERO, timeout).unwrap();
        t.bind(b, 1, Time::ZERO, timeout).unwrap();
        t.bind(c, 2, Time::ZERO, timeout).unwrap();
        // Every dest still in its service: nothing goes.
        let both = |service: u32, slot: u32| matches!((service, slot), (7, 0 | 1) | (9, 2));
        assert_eq!(t.forget_dests(both), 0);
        assert_eq!(t.len(), 3);
        // Slot 1 left service 7 and now belongs to service 9: b goes, its
        // count with it, so the new dest starts at zero.
        let moved = |service: u32, slot: u32| matches!((service, slot), (7, 0) | (9, 1 | 2));
        assert_eq!(t.forget_dests(moved), 1);
        assert_eq!(t.get(&b), None);
        assert_eq!(t.per_slot(), &[1, 0, 1, 0]);
        assert_eq!(t.get(&a), Some((0, 1)));
        assert_eq!(t.get(&c), Some((2, 1)));
        // Freed room is usable again.
        t.bind(b, 1, Time::ZERO, timeout).unwrap();
        assert_eq!(t.at_slot(1), 1);
    }
}
