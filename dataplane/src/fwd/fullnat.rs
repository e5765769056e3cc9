//! FullNAT (`-b`): both ends rewritten, as dpvs's `dp_vs_fnat_xmit`. A
//! request CIP:cport -> VIP:vport leaves as LIP:lport -> RIP:rport; the
//! reply RIP:rport -> LIP:lport leaves as VIP:vport -> CIP:cport. Real
//! servers may sit in any routed network: they answer the LIP, which the
//! director owns.
//!
//! lports come from [`LportPool`]: worker `w` of `n` takes the ports `p` of
//! the configured range with `p % n == w` (dpvs's per-core `sa_pool`
//! split), so [`super::fullnat_owner`] finds a reply's worker from the
//! reply alone. A (LIP, lport) pair may serve several conns at once as long
//! as their (RIP, rport, proto) differ: the reply tuple stays unique, which
//! is what the conn table checks. Exhaustion is reported, never hidden.

use super::{rewrite, Endpoint};
use crate::conn::{ConnTable, Proto, Tuple};
use crate::verdict::DropReason;
use core::ops::RangeInclusive;
use std::net::Ipv4Addr;

/// SNAT + DNAT of a request: `local` (LIP:lport) -> `real` (RIP:rport).
pub fn request(ip: &mut [u8], local: Endpoint, real: Endpoint) -> Result<(), DropReason> {
    rewrite(ip, local, real)
}

/// The reverse of [`request`] for a reply: `virt` (VIP:vport) -> `client`.
pub fn reply(ip: &mut [u8], virt: Endpoint, client: Endpoint) -> Result<(), DropReason> {
    rewrite(ip, virt, client)
}

/// How many candidate ports one allocation tries per LIP before moving on:
/// bounds the work on the packet path when the partition is nearly full.
pub const PROBES_PER_LADDR: u32 = 128;

/// One worker's lport allocator over every LIP.
#[derive(Debug, Clone)]
pub struct LportPool {
    worker: u16,
    workers: u16,
    first: u16,
    last: u16,
    /// Next candidate per LIP index (grows with the snapshot's LIP list).
    cursors: Vec<u16>,
    /// Which LIP to try first next time (round robin over LIPs).
    next_laddr: usize,
}

impl LportPool {
    /// The pool of worker `worker` of `workers` over `range` (IANA says
    /// 1024..=65535 are not well-known ports).
    pub fn new(worker: u16, workers: u16, range: RangeInclusive<u16>) -> Self {
        let workers = workers.max(1);
        let first = first_at_or_after(*range.start(), worker, workers);
        LportPool {
            worker,
            workers,
            first,
            last: *range.end(),
            cursors: Vec::new(),
            next_laddr: 0,
        }
    }

    /// True if `lport` belongs to this worker's partition.
    pub fn owns(&self, lport: u16) -> bool {
        lport % self.workers == self.worker && lport >= self.first && lport <= self.last
    }

    /// A free (LIP, lport) for a new conn to `real` over `proto`, one whose
    /// reply tuple RIP:rport -> LIP:lport no conn of `conns` uses.
    pub fn alloc(
        &mut self,
        conns: &ConnTable<Ipv4Addr>,
        laddrs: &[Ipv4Addr],
        proto: Proto,
        real: Endpoint,
    ) -> Result<Endpoint, DropReason> {
        if laddrs.is_empty() {
            return Err(DropReason::NoLaddr);
        }
        if self.first > self.last {
            return Err(DropReason::LportExhausted);
        }
        if self.cursors.len() < laddrs.len() {
            self.cursors.resize(laddrs.len(), self.first);
        }
        let start = self.next_laddr % laddrs.len();
        self.next_laddr = start + 1;
        for k in 0..laddrs.len() {
            let i = (start + k) % laddrs.len();
            let lip = laddrs[i];
            for _ in 0..PROBES_PER_LADDR {
                let port = self.cursors[i].clamp(self.first, self.last);
                self.cursors[i] = self.step(port);
                let reply = Tuple {
                    proto,
                    saddr: real.0,
                    sport: real.1,
                    daddr: lip,
                    dport: port,
                };
                if conns.lookup(&reply).is_none() {
                    return Ok((lip, port));
                }
            }
        }
        Err(DropReason::LportExhausted)
    }

    /// The next port of the partition after `port`, wrapping.
    fn step(&self, port: u16) -> u16 {
        match port.checked_add(self.workers) {
            Some(p) if p <= self.last => p,
            _ => self.first,
        }
    }
}

/// The smallest `p >= from` with `p % workers == worker` (saturating at
/// `u16::MAX`, which then lies past any range and empties the pool).
fn first_at_or_after(from: u16, worker: u16, workers: u16) -> u16 {
    let r = from % workers;
    let add = (worker + workers - r) % workers;
    from.saturating_add(add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::{ConnConfig, Fwd, NewConn};
    use crate::time::Time;

    #[test]
    fn partitions_the_range_and_reports_exhaustion() {
        let mut conns = ConnTable::with_capacity(64, 1).unwrap();
        let lip = [Ipv4Addr::new(10, 1, 0, 1)];
        let real = (Ipv4Addr::new(10, 2, 0, 5), 80);
        let mut pool = LportPool::new(1, 3, 2000..=2020);
        let mut got = Vec::new();
        loop {
            match pool.alloc(&conns, &lip, Proto::Tcp, real) {
                Ok((l, p)) => {
                    assert!(pool.owns(p) && p % 3 == 1);
                    got.push(p);
                    let n = NewConn {
                        proto: Proto::Tcp,
                        fwd: Fwd::FullNat,
                        caddr: Ipv4Addr::new(192, 0, 2, 1),
                        cport: p,
                        vaddr: Ipv4Addr::new(198, 18, 0, 1),
                        vport: 80,
                        laddr: l,
                        lport: p,
                        daddr: real.0,
                        dport: real.1,
                        service: 0,
                        dest: 0,
                    };
                    conns
                        .insert(&n, Time::ZERO, &ConnConfig::default())
                        .unwrap();
                }
                Err(e) => {
                    assert_eq!(e, DropReason::LportExhausted);
                    break;
                }
            }
        }
        assert_eq!(got, [2002, 2005, 2008, 2011, 2014, 2017, 2020]);
        // Another real server: the same ports are free again.
        let other = (Ipv4Addr::new(10, 2, 0, 6), 80);
        assert!(pool.alloc(&conns, &lip, Proto::Tcp, other).is_ok());
        assert_eq!(
            pool.alloc(&conns, &[], Proto::Tcp, other),
            Err(DropReason::NoLaddr)
        );
    }
}
