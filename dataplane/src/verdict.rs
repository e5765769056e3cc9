//! What the dataplane decided about a frame, and why frames are dropped.

/// Index of a DPDK port as the dataplane knows it (DPDK's `port_id`).
pub type PortId = u16;

/// The outcome of processing one frame. The DPDK shell acts on it and frees
/// the mbuf whenever the frame is not handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of `port`.
    Transmit {
        /// Egress port.
        port: PortId,
    },
    /// Move the frame, untouched, to the worker that owns its conn.
    Redirect {
        /// Index of the owning worker.
        worker: u16,
    },
    /// Give the frame to the kernel through the exception path of `port`.
    ToKernel {
        /// Port whose kernel twin receives the frame.
        port: PortId,
    },
    /// Free the frame and count it under `DropReason`.
    Drop(DropReason),
}

macro_rules! drop_reasons {
    ($($(#[doc = $doc:literal])* $name:ident => $label:literal,)*) => {
        /// Why a frame was dropped. Doubles as the index of a per-worker
        /// counter (VPP's habit), so keep it small and `Copy`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason {
            $($(#[doc = $doc])* $name,)*
        }

        impl DropReason {
            /// Every reason, in counter-index order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$name,)*];
            /// Number of reasons (length of a counter array).
            pub const COUNT: usize = Self::ALL.len();

            /// Short snake_case name, used in logs and stats output.
            pub const fn name(self) -> &'static str {
                match self {
                    $(DropReason::$name => $label,)*
                }
            }

            /// Counter index of this reason.
            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

drop_reasons! {
    /// Shorter than an Ethernet header, or a header that claims more bytes than arrived.
    Truncated => "truncated",
    /// An ethertype the appliance does not handle and has no exception path for.
    UnknownEthertype => "unknown_ethertype",
    /// Addressed to another host, with nothing here to forward it.
    NotForUs => "not_for_us",
    /// A header field is invalid (IHL, version, lengths).
    Malformed => "malformed",
    /// A checksum that was verified and found wrong.
    BadChecksum => "bad_checksum",
    /// ARP that is not an Ethernet/IPv4 request or reply, or asks for nobody of ours.
    ArpIgnored => "arp_ignored",
    /// ICMP addressed to the appliance that it does not answer.
    IcmpIgnored => "icmp_ignored",
    /// Frame arrived on a port the snapshot does not know.
    UnknownPort => "unknown_port",
    /// The frame needed room in its buffer that was not there.
    NoRoom => "no_room",
    /// An IPv4 fragment addressed to the appliance itself; the local stack
    /// does not reassemble (ICMP echo requests larger than the MTU go unanswered).
    Fragment => "fragment",
    /// An ARP reply addressed to us: it taught the neighbour table and needs
    /// no answer (a consumed frame, not an error).
    ArpConsumed => "arp_consumed",
    /// TCP without SYN (or with RST) for a virtual service, and no conn
    /// (IPVS schedules only on SYN: `tcp_conn_schedule`).
    NoConn => "no_conn",
    /// The service has no dest that may take a new conn (all quiesced,
    /// overloaded, or none configured).
    NoDest => "no_dest",
    /// The conn table is full: a new conn was refused, none evicted.
    ConnTableFull => "conn_table_full",
    /// A new conn's reply tuple already belongs to another conn.
    ConnExists => "conn_exists",
    /// FullNAT: no free lport on any LIP in this worker's partition.
    LportExhausted => "lport_exhausted",
    /// FullNAT service but the snapshot lists no LIP.
    NoLaddr => "no_laddr",
    /// No route to the packet's new destination.
    NoRoute => "no_route",
    /// The next hop's MAC is not known yet; an ARP request is queued and the
    /// packet dropped (the shell parks nothing on the forwarding path).
    NeighUnresolved => "neigh_unresolved",
    /// The conn's dest was removed and `expire_nodest_conn` is set.
    DestRemoved => "dest_removed",
    /// TTL ran out on a forwarded packet and no ICMP error may be sent about it.
    TtlExceeded => "ttl_exceeded",
    /// The packet would exceed the egress MTU (TUN without DF; rvs does not fragment).
    TooBig => "too_big",
    /// An ICMP error quoting no tracked conn, not for the appliance.
    IcmpNoConn => "icmp_no_conn",
    /// A source address that cannot name a host (0/8, broadcast, multicast, loopback).
    Martian => "martian",
    /// DR to a dest that is not on a connected network (the frame would go
    /// to a router, which would send it straight back to the VIP).
    DrNotConnected => "dr_not_connected",
    /// The persistence template table is full: the new conn was refused.
    TemplateTableFull => "template_table_full",
}

/// Per-worker drop counters, one slot per [`DropReason`]. Single writer (the
/// worker); the control core reads copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropCounters(pub [u64; DropReason::COUNT]);

impl Default for DropCounters {
    fn default() -> Self {
        DropCounters([0; DropReason::COUNT])
    }
}

impl DropCounters {
    /// Counts one drop.
    pub fn count(&mut self, reason: DropReason) {
        self.0[reason.index()] += 1;
    }

    /// The count for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Sum over every reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_index_their_counters() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(!r.name().is_empty());
        }
        let mut c = DropCounters::default();
        c.count(DropReason::Malformed);
        c.count(DropReason::Malformed);
        assert_eq!(c.get(DropReason::Malformed), 2);
        assert_eq!(c.total(), 2);
    }
}
