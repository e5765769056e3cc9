//! Per-worker connection tables, the IPVS conn state machine and expiry.
//!
//! A [`Conn`] is one tracked flow, as an IPVS `ip_vs_conn` / dpvs `dp_vs_conn`:
//! the client end (caddr:cport), the virtual service it asked for
//! (vaddr:vport), the local end the director uses towards the real server
//! (laddr:lport: the LIP for FullNAT, the client itself for NAT), the real
//! server (daddr:dport), indices of its service and dest in the config
//! snapshot, the forwarding method, the state and the deadline. Each conn is
//! found from both directions ([`key`]): "in" is client -> VIP, "out" is
//! RS -> laddr; DR and TUN conns have only "in", as their replies bypass us.
//!
//! The [`table::ConnTable`] is owned by one worker, sized once from config,
//! and never allocates afterwards; [`state`] holds the TCP state machine and
//! timeouts; [`timer`] the expiry wheel. The table takes already-parsed
//! tuples and TCP flags, so the wire and forwarding code glue onto it.

pub mod key;
pub mod state;
pub mod table;
pub mod timer;

pub use key::{ConnAddr, HashSeed, Proto, Tuple};
pub use state::{ConnConfig, ConnState, CountChange, TcpFlags, TcpState, Timeouts, Transition};
pub use table::{ConnTable, Hit, InsertError, TableConfig, TableConfigError, TableStats};
pub use timer::WheelConfig;

use crate::time::Time;
use timer::{Timed, TimerLink};

/// A packet's direction relative to its conn (`IP_VS_DIR_INPUT` /
/// `IP_VS_DIR_OUTPUT`): which of the conn's two tuples it matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Dir {
    /// Client to director (the "in" tuple: CIP:cport -> VIP:vport).
    In = 0,
    /// Real server to director (the "out" tuple: RIP:rport -> laddr:lport).
    Out = 1,
}

/// The forwarding method of a conn, inherited from its dest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Fwd {
    /// Masquerading (`-m`): DNAT in, SNAT back out.
    Nat,
    /// FullNAT (`-b`): SNAT to LIP:lport and DNAT to RIP:rport.
    FullNat,
    /// Direct routing (`-g`): MAC rewrite only; replies bypass the director.
    Dr,
    /// IPIP tunnelling (`-i`); replies bypass the director.
    Tun,
}

impl Fwd {
    /// True when replies come back through the director, so the conn has an
    /// "out" tuple and uses the INPUT/OUTPUT state tables.
    pub const fn sees_replies(self) -> bool {
        matches!(self, Fwd::Nat | Fwd::FullNat)
    }
}

/// Conn flag bits (a subset of IPVS `IP_VS_CONN_F_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnFlags(u8);

impl ConnFlags {
    /// Counted in its dest's inactive conns (`IP_VS_CONN_F_INACTIVE`).
    pub const INACTIVE: ConnFlags = ConnFlags(0x01);
    /// No reply seen yet on a conn of a non-NAT method
    /// (`IP_VS_CONN_F_NOOUTPUT`): TCP uses the INPUT_ONLY table.
    pub const NO_OUTPUT: ConnFlags = ConnFlags(0x02);
    /// The slab entry holds a live conn.
    pub const IN_USE: ConnFlags = ConnFlags(0x80);

    /// True if all bits of `other` are set.
    pub const fn contains(self, other: ConnFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the bits of `other`.
    pub fn insert(&mut self, other: ConnFlags) {
        self.0 |= other.0;
    }

    /// Clears the bits of `other`.
    pub fn remove(&mut self, other: ConnFlags) {
        self.0 &= !other.0;
    }
}

/// The index of a conn in its table. Valid until the conn is removed or
/// expires; do not keep it across expiry calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u32);

impl ConnId {
    /// The slab index.
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// What a caller supplies to create a conn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewConn<A> {
    /// Transport protocol.
    pub proto: Proto,
    /// Forwarding method (from the chosen dest).
    pub fwd: Fwd,
    /// Client address and port.
    pub caddr: A,
    /// Client port.
    pub cport: u16,
    /// Virtual address (VIP).
    pub vaddr: A,
    /// Virtual port.
    pub vport: u16,
    /// Local address (LIP) for FullNAT; ignored (taken as the client) otherwise.
    pub laddr: A,
    /// Local port for FullNAT; ignored otherwise.
    pub lport: u16,
    /// Real server address (RIP).
    pub daddr: A,
    /// Real server port.
    pub dport: u16,
    /// Index of the service in the config snapshot.
    pub service: u32,
    /// Index of the dest in the config snapshot.
    pub dest: u32,
}

/// One conn. 56 bytes for IPv4 (see `conn_size` tests); the table gives each
/// its own 64-byte cache line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn<A> {
    expires: Time,
    link: TimerLink,
    service: u32,
    dest: u32,
    caddr: A,
    vaddr: A,
    laddr: A,
    daddr: A,
    cport: u16,
    vport: u16,
    lport: u16,
    dport: u16,
    proto: Proto,
    fwd: Fwd,
    state: ConnState,
    flags: ConnFlags,
}

impl<A: ConnAddr> Conn<A> {
    /// A free slab entry.
    pub(crate) const EMPTY: Conn<A> = Conn {
        expires: Time::ZERO,
        link: TimerLink::UNLINKED,
        service: 0,
        dest: 0,
        caddr: A::UNSPECIFIED,
        vaddr: A::UNSPECIFIED,
        laddr: A::UNSPECIFIED,
        daddr: A::UNSPECIFIED,
        cport: 0,
        vport: 0,
        lport: 0,
        dport: 0,
        proto: Proto::Tcp,
        fwd: Fwd::Nat,
        state: ConnState::Tcp(TcpState::None),
        flags: ConnFlags(0),
    };

    /// A live conn as created by IPVS `ip_vs_conn_new` + `ip_vs_bind_dest`:
    /// initial state, counted inactive, NO_OUTPUT unless replies come back
    /// through us. NAT, DR and TUN conns take the client as their local end.
    pub(crate) fn new(n: &NewConn<A>, expires: Time) -> Self {
        let (laddr, lport) = match n.fwd {
            Fwd::FullNat => (n.laddr, n.lport),
            Fwd::Nat | Fwd::Dr | Fwd::Tun => (n.caddr, n.cport),
        };
        let mut flags = ConnFlags::IN_USE;
        flags.insert(ConnFlags::INACTIVE);
        if !n.fwd.sees_replies() {
            flags.insert(ConnFlags::NO_OUTPUT);
        }
        Conn {
            expires,
            link: TimerLink::UNLINKED,
            service: n.service,
            dest: n.dest,
            caddr: n.caddr,
            vaddr: n.vaddr,
            laddr,
            daddr: n.daddr,
            cport: n.cport,
            vport: n.vport,
            lport,
            dport: n.dport,
            proto: n.proto,
            fwd: n.fwd,
            state: ConnState::initial(n.proto),
            flags,
        }
    }

    /// The tuple packets of direction `dir` carry.
    #[inline]
    pub fn tuple(&self, dir: Dir) -> Tuple<A> {
        match dir {
            Dir::In => Tuple {
                proto: self.proto,
                saddr: self.caddr,
                sport: self.cport,
                daddr: self.vaddr,
                dport: self.vport,
            },
            Dir::Out => Tuple {
                proto: self.proto,
                saddr: self.daddr,
                sport: self.dport,
                daddr: self.laddr,
                dport: self.lport,
            },
        }
    }

    /// Client address and port.
    pub fn client(&self) -> (A, u16) {
        (self.caddr, self.cport)
    }
    /// Virtual address and port.
    pub fn virt(&self) -> (A, u16) {
        (self.vaddr, self.vport)
    }
    /// Local address and port (the LIP for FullNAT, the client otherwise).
    pub fn local(&self) -> (A, u16) {
        (self.laddr, self.lport)
    }
    /// Real server address and port.
    pub fn real(&self) -> (A, u16) {
        (self.daddr, self.dport)
    }
    /// Service index in the snapshot the conn was created under.
    pub fn service(&self) -> u32 {
        self.service
    }
    /// Dest index in the snapshot the conn was created under.
    pub fn dest(&self) -> u32 {
        self.dest
    }
    /// Transport protocol.
    pub fn proto(&self) -> Proto {
        self.proto
    }
    /// Forwarding method.
    pub fn fwd(&self) -> Fwd {
        self.fwd
    }
    /// Current state.
    pub fn state(&self) -> ConnState {
        self.state
    }
    /// Flag bits.
    pub fn flags(&self) -> ConnFlags {
        self.flags
    }
    /// When the conn expires unless a packet comes.
    pub fn expires(&self) -> Time {
        self.expires
    }
    /// True if its dest counts it as active (`!IP_VS_CONN_F_INACTIVE`); what
    /// to decrement when it goes away.
    pub fn counted_active(&self) -> bool {
        !self.flags.contains(ConnFlags::INACTIVE)
    }
    /// True if the slab entry is a live conn.
    pub fn in_use(&self) -> bool {
        self.flags.contains(ConnFlags::IN_USE)
    }

    /// Runs a packet through the state machine without touching the timer
    /// (the table re-arms it).
    pub(crate) fn transition(&mut self, dir: Dir, tcp: TcpFlags, cfg: &ConnConfig) -> Transition {
        state::step(&mut self.state, &mut self.flags, dir, tcp, cfg)
    }

    pub(crate) fn set_expires(&mut self, t: Time) {
        self.expires = t;
    }
}

impl<A: ConnAddr> Timed for Conn<A> {
    fn link(&self) -> &TimerLink {
        &self.link
    }
    fn link_mut(&mut self) -> &mut TimerLink {
        &mut self.link
    }
    fn expires(&self) -> Time {
        self.expires
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn conn_is_small() {
        assert_eq!(core::mem::size_of::<Conn<Ipv4Addr>>(), 56);
        assert!(core::mem::size_of::<Conn<Ipv6Addr>>() <= 104);
    }

    fn new(fwd: Fwd) -> NewConn<Ipv4Addr> {
        NewConn {
            proto: Proto::Tcp,
            fwd,
            caddr: Ipv4Addr::new(198, 51, 100, 7),
            cport: 40000,
            vaddr: Ipv4Addr::new(192, 0, 2, 10),
            vport: 80,
            laddr: Ipv4Addr::new(10, 1, 0, 1),
            lport: 5000,
            daddr: Ipv4Addr::new(10, 2, 0, 5),
            dport: 8080,
            service: 3,
            dest: 4,
        }
    }

    #[test]
    fn tuples_per_method() {
        let nat = Conn::new(&new(Fwd::Nat), Time::ZERO);
        assert_eq!(nat.tuple(Dir::In).saddr, Ipv4Addr::new(198, 51, 100, 7));
        assert_eq!(nat.tuple(Dir::In).dport, 80);
        // NAT reply: RS -> client.
        let out = nat.tuple(Dir::Out);
        assert_eq!((out.saddr, out.sport), (Ipv4Addr::new(10, 2, 0, 5), 8080));
        assert_eq!(
            (out.daddr, out.dport),
            (Ipv4Addr::new(198, 51, 100, 7), 40000)
        );
        // FullNAT reply: RS -> LIP.
        let out = Conn::new(&new(Fwd::FullNat), Time::ZERO).tuple(Dir::Out);
        assert_eq!((out.daddr, out.dport), (Ipv4Addr::new(10, 1, 0, 1), 5000));
        let dr = Conn::new(&new(Fwd::Dr), Time::ZERO);
        assert!(dr.flags().contains(ConnFlags::NO_OUTPUT));
        assert!(!nat.flags().contains(ConnFlags::NO_OUTPUT));
        assert!(!nat.counted_active() && nat.in_use());
        assert_eq!(nat.state(), ConnState::Tcp(TcpState::None));
    }
}
