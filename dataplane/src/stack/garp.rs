//! Gratuitous ARP: announcing the appliance's addresses (DIPs, and VIPs and
//! LIPs as they come to live on the interfaces) so that neighbours and
//! switches learn or update them at start-up, after a configuration change,
//! and after a failover.
//!
//! Each announcement is an ARP request with sender and target protocol
//! address both set to the announced address and a zero target hardware
//! address, broadcast — RFC 5227 §2.3's "ARP Announcement", which is what
//! Linux's `arping -U` and keepalived's gratuitous ARPs send. RFC 5227 sends
//! [`ANNOUNCE_NUM`] of them [`ANNOUNCE_INTERVAL`] apart, in case one is lost.
//!
//! The [`Announcer`] is sans-IO: it is told what to announce and when, and
//! writes frames into caller buffers from [`Announcer::poll_transmit`].

use crate::addr::MacAddr;
use crate::snapshot::Snapshot;
use crate::stack::neigh::emit_arp_frame;
use crate::time::Time;
use crate::verdict::PortId;
use crate::wire::arp::{ArpOperation, ArpRepr};
use core::time::Duration;
use std::net::Ipv4Addr;

/// Announcements per address (RFC 5227 §1.1, `ANNOUNCE_NUM`).
pub const ANNOUNCE_NUM: u8 = 2;
/// Time between them (RFC 5227 §1.1, `ANNOUNCE_INTERVAL`).
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);

/// Writes a gratuitous ARP announcing that `ip` is at `mac` into `buf` (at
/// least 60 bytes); returns the frame length, `None` if `buf` is too short.
pub fn emit_announcement(mac: MacAddr, ip: Ipv4Addr, buf: &mut [u8]) -> Option<usize> {
    let repr = ArpRepr {
        operation: ArpOperation::REQUEST,
        source_hardware_addr: mac,
        source_protocol_addr: ip,
        target_hardware_addr: MacAddr::ZERO,
        target_protocol_addr: ip,
    };
    emit_arp_frame(mac, MacAddr::BROADCAST, &repr, buf)
}

/// Schedules announcements: every address it is given is announced
/// [`ANNOUNCE_NUM`] times, [`ANNOUNCE_INTERVAL`] apart.
#[derive(Debug, Clone, Default)]
pub struct Announcer {
    /// Addresses in the current round.
    pending: Vec<(PortId, Ipv4Addr)>,
    /// Next address of the round to send.
    cursor: usize,
    /// Rounds left after the current one.
    rounds_left: u8,
    /// When the current round starts.
    due: Time,
}

impl Announcer {
    /// An announcer with nothing to do.
    pub fn new() -> Self {
        Self::default()
    }

    /// Announces every address of every interface of `snapshot` (start-up,
    /// failover).
    pub fn announce_all(&mut self, now: Time, snapshot: &Snapshot) {
        let addrs = snapshot
            .interfaces
            .iter()
            .flat_map(|i| i.addrs.iter().map(move |a| (i.port, a.addr)));
        self.start(now, addrs);
    }

    /// Announces the addresses of `new` that `old` did not have on the same
    /// port (a configuration change).
    pub fn announce_changes(&mut self, now: Time, old: &Snapshot, new: &Snapshot) {
        let addrs = new.interfaces.iter().flat_map(|i| {
            let before = old.interface(i.port);
            i.addrs
                .iter()
                .filter(move |a| !before.is_some_and(|b| b.owns(a.addr)))
                .map(move |a| (i.port, a.addr))
        });
        self.start(now, addrs);
    }

    /// Starts a new series with `addrs`, keeping whatever the current one
    /// had not finished.
    fn start(&mut self, now: Time, addrs: impl Iterator<Item = (PortId, Ipv4Addr)>) {
        let before = self.pending.len();
        for a in addrs {
            if !self.pending.contains(&a) {
                self.pending.push(a);
            }
        }
        if self.pending.len() != before || self.rounds_left == 0 {
            // New addresses: run full rounds again from now.
            self.cursor = 0;
            self.rounds_left = ANNOUNCE_NUM.saturating_sub(1);
            self.due = now;
        }
        if self.pending.is_empty() {
            self.rounds_left = 0;
        }
    }

    /// When the next announcement is due, if any.
    pub fn poll_timeout(&self) -> Option<Time> {
        (!self.pending.is_empty()).then_some(self.due)
    }

    /// Writes the next announcement that is due into `buf` (at least 60
    /// bytes): its port and length. Addresses no longer in `snapshot` are
    /// skipped. Call until `None`.
    pub fn poll_transmit(
        &mut self,
        now: Time,
        snapshot: &Snapshot,
        buf: &mut [u8],
    ) -> Option<(PortId, usize)> {
        if self.pending.is_empty() || now < self.due {
            return None;
        }
        while let Some(&(port, ip)) = self.pending.get(self.cursor) {
            self.cursor += 1;
            let Some(iface) = snapshot.interface(port).filter(|i| i.owns(ip)) else {
                continue;
            };
            if let Some(n) = emit_announcement(iface.mac, ip, buf) {
                return Some((port, n));
            }
        }
        // End of a round.
        self.cursor = 0;
        if self.rounds_left == 0 {
            self.pending.clear();
        } else {
            self.rounds_left -= 1;
            self.due = now + ANNOUNCE_INTERVAL;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::Ipv4Cidr;
    use crate::snapshot::Interface;
    use crate::wire::hex;

    fn snapshot(addrs: &[&str]) -> Snapshot {
        let iface = Interface {
            port: 1,
            name: "lb0".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 2]),
            mtu: 1500,
            addrs: addrs
                .iter()
                .map(|a| a.parse::<Ipv4Cidr>().unwrap())
                .collect(),
        };
        Snapshot::new(1, vec![iface], &[]).unwrap()
    }

    #[test]
    fn test_emit() {
        let mut buf = [0xffu8; 64];
        let n = emit_announcement(
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(192, 0, 2, 10),
            &mut buf,
        );
        assert_eq!(n, Some(60));
        let mut want = hex("ffffffffffff 020000000002 0806
            0001 0800 06 04 0001 020000000002 c000020a 000000000000 c000020a");
        want.resize(60, 0);
        assert_eq!(&buf[..60], &want[..]);
        assert_eq!(
            emit_announcement(MacAddr::ZERO, Ipv4Addr::LOCALHOST, &mut buf[..59]),
            None
        );
    }

    fn drain(a: &mut Announcer, now: Time, snap: &Snapshot) -> Vec<Ipv4Addr> {
        let mut buf = [0u8; 60];
        let mut out = Vec::new();
        while let Some((port, n)) = a.poll_transmit(now, snap, &mut buf) {
            assert_eq!((port, n), (1, 60));
            out.push(Ipv4Addr::new(buf[28], buf[29], buf[30], buf[31]));
        }
        out
    }

    #[test]
    fn start_up_announces_twice() {
        let snap = snapshot(&["10.0.0.2/24", "192.0.2.10/32"]);
        let mut a = Announcer::new();
        assert_eq!(a.poll_timeout(), None);
        a.announce_all(Time::from_secs(5), &snap);
        assert_eq!(a.poll_timeout(), Some(Time::from_secs(5)));
        assert!(drain(&mut a, Time::from_secs(4), &snap).is_empty());
        let first = drain(&mut a, Time::from_secs(5), &snap);
        assert_eq!(
            first,
            [Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(192, 0, 2, 10)]
        );
        assert_eq!(a.poll_timeout(), Some(Time::from_secs(7)));
        assert!(drain(&mut a, Time::from_secs(6), &snap).is_empty());
        assert_eq!(drain(&mut a, Time::from_secs(7), &snap), first);
        assert_eq!(a.poll_timeout(), None);
        assert!(drain(&mut a, Time::from_secs(60), &snap).is_empty());
    }

    #[test]
    fn changes_announce_only_new_addresses() {
        let old = snapshot(&["10.0.0.2/24"]);
        let new = snapshot(&["10.0.0.2/24", "192.0.2.11/32"]);
        let mut a = Announcer::new();
        a.announce_changes(Time::ZERO, &old, &new);
        assert_eq!(
            drain(&mut a, Time::ZERO, &new),
            [Ipv4Addr::new(192, 0, 2, 11)]
        );
        // Nothing new: nothing to do.
        let mut b = Announcer::new();
        b.announce_changes(Time::ZERO, &new, &new);
        assert_eq!(b.poll_timeout(), None);
        // An address removed before its turn is skipped.
        let mut c = Announcer::new();
        c.announce_all(Time::ZERO, &new);
        assert_eq!(
            drain(&mut c, Time::ZERO, &old),
            [Ipv4Addr::new(10, 0, 0, 2)]
        );
    }
}
