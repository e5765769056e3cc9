//! The IPVS conn state machine and its timeouts.
//!
//! TCP follows `net/netfilter/ipvs/ip_vs_proto_tcp.c`: the state is tracked
//! from the flags of the packets the director sees, one table row per
//! direction (INPUT: client to server; OUTPUT: server replies, seen by NAT
//! and FullNAT; INPUT_ONLY: conns whose replies bypass the director, DR and
//! TUN, flagged `IP_VS_CONN_F_NOOUTPUT`) and per event, where the event is the
//! strongest flag of the packet in the order RST > SYN > FIN > ACK. A packet
//! with none of those flags moves the conn to CLOSE, as in the kernel. The
//! "secure_tcp" tables (`tcp_states_dos`, sysctl `secure_tcp`) are the
//! defence variant with the SYNACK state. Every packet re-arms the conn timer
//! with the timeout of the state it leaves the conn in.
//!
//! A dest counts its conns as active or inactive (`ipvsadm -L` ActiveConn /
//! InActConn, and the input of lc/wlc/sed/nq). Conns are born inactive (the
//! kernel binds them with `IP_VS_CONN_F_INACTIVE` from the dest's
//! conn_flags); a TCP conn becomes active when it enters ESTABLISHED,
//! SYN_SENT, SYN_RECV or SYNACK (`tcp_state_active_table`, Linux 4.7 and
//! later) and inactive again when it leaves them. UDP and ICMP conns stay
//! inactive for life. The transition reports each move as a [`CountChange`]
//! for the caller to apply to its per-dest counters.

use super::{ConnFlags, Dir};
use crate::conn::key::Proto;

/// The TCP states of an IPVS conn (`IP_VS_TCP_S_*`), in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    /// No packet seen yet (`NONE`).
    None = 0,
    /// Three-way handshake completed (`ESTABLISHED`).
    Established,
    /// SYN seen from the server side (`SYN_SENT`).
    SynSent,
    /// SYN seen from the client (`SYN_RECV`).
    SynRecv,
    /// One side sent FIN (`FIN_WAIT`).
    FinWait,
    /// Both sides sent FIN (`TIME_WAIT`).
    TimeWait,
    /// Reset, or closed before being established (`CLOSE`).
    Close,
    /// The client sent FIN first (`CLOSE_WAIT`).
    CloseWait,
    /// Last ACK expected (`LAST_ACK`).
    LastAck,
    /// Listening, used for FTP data conns (`LISTEN`).
    Listen,
    /// SYN answered by the server in secure_tcp mode (`SYNACK`).
    SynAck,
}

impl TcpState {
    /// All states, indexed by their number.
    pub const ALL: [TcpState; 11] = [
        TcpState::None,
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::SynAck,
    ];

    /// The name `ipvsadm -L -c` prints for the state.
    pub const fn name(self) -> &'static str {
        match self {
            TcpState::None => "NONE",
            TcpState::Established => "ESTABLISHED",
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::Listen => "LISTEN",
            TcpState::SynAck => "SYNACK",
        }
    }

    /// Whether a conn in this state counts in its dest's active conns
    /// (`tcp_state_active_table`).
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            TcpState::Established | TcpState::SynSent | TcpState::SynRecv | TcpState::SynAck
        )
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// The state of a conn, whatever its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// A TCP conn and where it is in the IPVS TCP state machine.
    Tcp(TcpState),
    /// A UDP conn: IPVS has one state, `UDP` (`IP_VS_UDP_S_NORMAL`).
    Udp,
    /// An ICMP conn: one state, `ICMP`.
    Icmp,
}

impl ConnState {
    /// The state a new conn of `proto` starts in, before its first packet.
    pub const fn initial(proto: Proto) -> Self {
        match proto {
            Proto::Tcp => ConnState::Tcp(TcpState::None),
            Proto::Udp => ConnState::Udp,
            Proto::Icmp => ConnState::Icmp,
        }
    }

    /// The name `ipvsadm -L -c` prints.
    pub const fn name(self) -> &'static str {
        match self {
            ConnState::Tcp(s) => s.name(),
            ConnState::Udp => "UDP",
            ConnState::Icmp => "ICMP",
        }
    }

    /// Whether a conn in this state counts as active for its dest.
    pub const fn is_active(self) -> bool {
        match self {
            ConnState::Tcp(s) => s.is_active(),
            ConnState::Udp | ConnState::Icmp => false,
        }
    }
}

/// The TCP header flags the state machine looks at, laid out as in the TCP
/// header's flags byte (RFC 9293 section 3.1), so the wire code can pass that
/// byte straight in with [`TcpFlags::from_bits_truncate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// FIN: no more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN: synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH: push function (ignored by the state machine).
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// No flag set.
    pub const NONE: TcpFlags = TcpFlags(0);

    /// The flags of a TCP header flags byte; CWR, ECE and URG are dropped.
    pub const fn from_bits_truncate(byte: u8) -> Self {
        TcpFlags(byte & 0x1f)
    }

    /// The flags as a header byte.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if every flag of `other` is set in `self`.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two flag sets.
    pub const fn union(self, other: TcpFlags) -> Self {
        TcpFlags(self.0 | other.0)
    }

    /// The event the state machine sees: the strongest flag, RST > SYN >
    /// FIN > ACK (`tcp_state_idx`); `None` when none of them is set.
    pub const fn event(self) -> Option<TcpEvent> {
        if self.contains(Self::RST) {
            Some(TcpEvent::Rst)
        } else if self.contains(Self::SYN) {
            Some(TcpEvent::Syn)
        } else if self.contains(Self::FIN) {
            Some(TcpEvent::Fin)
        } else if self.contains(Self::ACK) {
            Some(TcpEvent::Ack)
        } else {
            None
        }
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;

    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        self.union(rhs)
    }
}

/// A row of the TCP state tables, in the kernel's row order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum TcpEvent {
    /// SYN set (and not RST).
    Syn = 0,
    /// FIN set (and not RST or SYN).
    Fin = 1,
    /// Only ACK among the four.
    Ack = 2,
    /// RST set.
    Rst = 3,
}

/// Which block of the TCP state tables applies to a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StateDir {
    /// Client to server on a conn whose replies come back through us.
    Input = 0,
    /// Server to client (replies; NAT and FullNAT only).
    Output = 1,
    /// Client to server on a conn that has not shown replies (DR, TUN).
    InputOnly = 2,
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

type Table = [[[TcpState; 11]; 4]; 3];

/// `tcp_states`: [direction][event][current state] -> next state.
#[rustfmt::skip]
const TCP_STATES: Table = [
    // INPUT     NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    // OUTPUT    NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /*syn*/ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT_ONLY NO ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// `tcp_states_dos`, used when secure_tcp is on.
#[rustfmt::skip]
const TCP_STATES_DOS: Table = [
    // INPUT     NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /*syn*/ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
        /*fin*/ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
        /*ack*/ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
    // OUTPUT    NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /*syn*/ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
        /*fin*/ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        /*rst*/ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    // INPUT_ONLY NO ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
    [
        /*syn*/ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
        /*fin*/ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        /*ack*/ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        /*rst*/ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

/// The next TCP state after a packet with `flags` in direction `dir`.
pub fn tcp_next(secure_tcp: bool, dir: StateDir, flags: TcpFlags, state: TcpState) -> TcpState {
    let table = if secure_tcp {
        &TCP_STATES_DOS
    } else {
        &TCP_STATES
    };
    match flags.event() {
        Some(ev) => table[dir as usize][ev as usize][state.index()],
        // tcp_state_idx < 0: set_tcp_state keeps its initial IP_VS_TCP_S_CLOSE.
        None => TcpState::Close,
    }
}

const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Conn timeouts in seconds, per TCP state and for UDP and ICMP: the table
/// `ipvsadm --set` and the `timeout_*` sysctls change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    tcp: [u32; 11],
    udp: u32,
    icmp: u32,
}

impl Default for Timeouts {
    /// The kernel defaults: `tcp_timeouts` (2, 900, 120, 60, 120, 120, 10,
    /// 60, 30, 120, 120 s), UDP 300 s (`udp_timeouts`), ICMP 60 s (the
    /// `icmp_timeouts` of IPVS's ICMP protocol).
    fn default() -> Self {
        Timeouts {
            tcp: [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120],
            udp: 300,
            icmp: 60,
        }
    }
}

impl Timeouts {
    /// `ipvsadm --set tcp tcpfin udp`: sets the ESTABLISHED, FIN_WAIT and UDP
    /// timeouts, in seconds; 0 leaves a value unchanged.
    pub fn set(&mut self, tcp: u32, tcpfin: u32, udp: u32) {
        if tcp != 0 {
            self.tcp[TcpState::Established.index()] = tcp;
        }
        if tcpfin != 0 {
            self.tcp[TcpState::FinWait.index()] = tcpfin;
        }
        if udp != 0 {
            self.udp = udp;
        }
    }

    /// The three values `ipvsadm -L --timeout` shows: tcp, tcpfin, udp.
    pub fn shown(&self) -> (u32, u32, u32) {
        (
            self.tcp[TcpState::Established.index()],
            self.tcp[TcpState::FinWait.index()],
            self.udp,
        )
    }

    /// Sets the timeout of one TCP state, in seconds (the per-state sysctls).
    pub fn set_tcp(&mut self, state: TcpState, secs: u32) {
        self.tcp[state.index()] = secs;
    }

    /// Sets the ICMP conn timeout, in seconds.
    pub fn set_icmp(&mut self, secs: u32) {
        self.icmp = secs;
    }

    /// The timeout of a conn in `state`, in seconds.
    pub fn secs(&self, state: ConnState) -> u32 {
        match state {
            ConnState::Tcp(s) => self.tcp[s.index()],
            ConnState::Udp => self.udp,
            ConnState::Icmp => self.icmp,
        }
    }

    /// The timeout of a conn in `state`, in nanoseconds.
    pub fn nanos(&self, state: ConnState) -> u64 {
        u64::from(self.secs(state)) * NANOS_PER_SEC
    }
}

/// What the state machine needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConnConfig {
    /// Timeouts per state.
    pub timeouts: Timeouts,
    /// Use the secure_tcp (`tcp_states_dos`) tables.
    pub secure_tcp: bool,
}

/// A move of a conn between its dest's active and inactive counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountChange {
    /// activeconns += 1, inactconns -= 1.
    BecameActive,
    /// activeconns -= 1, inactconns += 1.
    BecameInactive,
}

/// The outcome of one packet on a conn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before the packet.
    pub from: ConnState,
    /// State after the packet.
    pub to: ConnState,
    /// Timeout the conn timer is re-armed with, in nanoseconds.
    pub timeout_nanos: u64,
    /// The dest count move to apply, if any.
    pub count: Option<CountChange>,
}

/// Runs one packet through the state machine: updates `state` and the
/// INACTIVE / NO_OUTPUT bits of `flags` as `set_tcp_state` does.
pub(crate) fn step(
    state: &mut ConnState,
    flags: &mut ConnFlags,
    dir: Dir,
    tcp_flags: TcpFlags,
    cfg: &ConnConfig,
) -> Transition {
    let from = *state;
    let to = match from {
        ConnState::Tcp(s) => {
            // A conn created without replies in view (DR/TUN) uses INPUT_ONLY
            // until a reply shows up, which clears NO_OUTPUT for good.
            let sdir = match dir {
                Dir::Out => {
                    flags.remove(ConnFlags::NO_OUTPUT);
                    StateDir::Output
                }
                Dir::In if flags.contains(ConnFlags::NO_OUTPUT) => StateDir::InputOnly,
                Dir::In => StateDir::Input,
            };
            ConnState::Tcp(tcp_next(cfg.secure_tcp, sdir, tcp_flags, s))
        }
        other => other,
    };
    let mut count = None;
    if to != from {
        let inactive = flags.contains(ConnFlags::INACTIVE);
        if !inactive && !to.is_active() {
            flags.insert(ConnFlags::INACTIVE);
            count = Some(CountChange::BecameInactive);
        } else if inactive && to.is_active() {
            flags.remove(ConnFlags::INACTIVE);
            count = Some(CountChange::BecameActive);
        }
    }
    *state = to;
    Transition {
        from,
        to,
        timeout_nanos: cfg.timeouts.nanos(to),
        count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: TcpFlags = TcpFlags::SYN;
    const A: TcpFlags = TcpFlags::ACK;
    const F: TcpFlags = TcpFlags::FIN;
    const R: TcpFlags = TcpFlags::RST;
    const NO: TcpState = TcpState::None;

    #[test]
    fn event_priority_is_rst_syn_fin_ack() {
        assert_eq!((R | S | F | A).event(), Some(TcpEvent::Rst));
        assert_eq!((S | F | A).event(), Some(TcpEvent::Syn));
        assert_eq!((F | A).event(), Some(TcpEvent::Fin));
        assert_eq!((A | TcpFlags::PSH).event(), Some(TcpEvent::Ack));
        assert_eq!(TcpFlags::PSH.event(), None);
        assert_eq!(TcpFlags::from_bits_truncate(0xd2), S | A); // CWR|ECE dropped
    }

    #[test]
    fn no_flags_closes_like_the_kernel() {
        assert_eq!(tcp_next(false, StateDir::Input, TcpFlags::NONE, ES), CL);
    }

    #[test]
    fn default_timeouts_are_the_kernels() {
        let t = Timeouts::default();
        let want = [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120];
        for (s, w) in TcpState::ALL.iter().zip(want) {
            assert_eq!(t.secs(ConnState::Tcp(*s)), w, "{}", s.name());
        }
        assert_eq!(t.secs(ConnState::Udp), 300);
        assert_eq!(t.secs(ConnState::Icmp), 60);
        assert_eq!(t.shown(), (900, 120, 300));
        assert_eq!(t.nanos(ConnState::Tcp(CL)), 10_000_000_000);
    }

    #[test]
    fn set_follows_ipvsadm_zero_means_unchanged() {
        let mut t = Timeouts::default();
        t.set(3600, 0, 0);
        assert_eq!(t.shown(), (3600, 120, 300));
        t.set(0, 30, 20);
        assert_eq!(t.shown(), (3600, 30, 20));
        t.set(0, 0, 0);
        assert_eq!(t.shown(), (3600, 30, 20));
        assert_eq!(t.secs(ConnState::Tcp(TW)), 120, "tcpfin is FIN_WAIT only");
    }

    #[test]
    fn secure_tables_differ_only_where_synack_lives() {
        // Spot checks of the dos table against the normal one.
        assert_eq!(tcp_next(true, StateDir::InputOnly, S, NO), SA);
        assert_eq!(tcp_next(false, StateDir::InputOnly, S, NO), SR);
        assert_eq!(tcp_next(true, StateDir::Output, S, SR), SA);
        assert_eq!(tcp_next(true, StateDir::Input, A, SR), SR);
        assert_eq!(tcp_next(false, StateDir::Input, A, SR), ES);
    }

    #[test]
    fn state_names_and_activity() {
        assert_eq!(ConnState::Tcp(ES).name(), "ESTABLISHED");
        assert_eq!(ConnState::Udp.name(), "UDP");
        let active: Vec<_> = TcpState::ALL.iter().filter(|s| s.is_active()).collect();
        assert_eq!(active, [&ES, &SS, &SR, &SA]);
        assert!(!ConnState::Udp.is_active());
        assert_eq!(core::mem::size_of::<ConnState>(), 1);
    }
}
