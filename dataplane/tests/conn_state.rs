//! Whole TCP exchanges through the conn table give the states, timeouts and
//! dest count moves of IPVS (`ip_vs_proto_tcp.c`), for NAT (both directions
//! seen) and DR (input only), plus UDP and ICMP.

use dataplane::conn::{
    ConnConfig, ConnState, ConnTable, CountChange, Dir, Fwd, NewConn, Proto, TcpFlags, TcpState,
    Timeouts,
};
use dataplane::Time;
use std::net::Ipv4Addr;

use CountChange::{BecameActive as Up, BecameInactive as Down};
use Dir::{In, Out};
use TcpState::{Close, CloseWait, Established, FinWait, SynAck, SynRecv, TimeWait};

const S: TcpFlags = TcpFlags::SYN;
const A: TcpFlags = TcpFlags::ACK;
const F: TcpFlags = TcpFlags::FIN;
const R: TcpFlags = TcpFlags::RST;
const P: TcpFlags = TcpFlags::PSH;

fn new(proto: Proto, fwd: Fwd) -> NewConn<Ipv4Addr> {
    NewConn {
        proto,
        fwd,
        caddr: Ipv4Addr::new(198, 51, 100, 7),
        cport: 40000,
        vaddr: Ipv4Addr::new(192, 0, 2, 10),
        vport: 80,
        laddr: Ipv4Addr::new(10, 1, 0, 1),
        lport: 5000,
        daddr: Ipv4Addr::new(10, 2, 0, 5),
        dport: 8080,
        service: 0,
        dest: 0,
    }
}

/// Plays `steps` (direction, flags, expected state, expected timeout in s,
/// expected count move) one second apart and checks each one.
fn play(cfg: &ConnConfig, fwd: Fwd, steps: &[(Dir, TcpFlags, TcpState, u64, Option<CountChange>)]) {
    let mut t = ConnTable::with_capacity(4, 77).unwrap();
    let id = t.insert(&new(Proto::Tcp, fwd), Time::ZERO, cfg).unwrap();
    assert_eq!(
        t.get(id).unwrap().expires(),
        Time::from_secs(2),
        "NONE lasts 2 s"
    );
    let mut active = false;
    for (i, &(dir, flags, state, timeout, count)) in steps.iter().enumerate() {
        let now = Time::from_secs(i as u64 + 1);
        let tr = t.on_packet(id, dir, flags, now, cfg).unwrap();
        assert_eq!(tr.to, ConnState::Tcp(state), "step {i}: {dir:?} {flags:?}");
        assert_eq!(tr.count, count, "step {i}: count move");
        assert_eq!(
            tr.timeout_nanos,
            timeout * 1_000_000_000,
            "step {i}: timeout"
        );
        let conn = t.get(id).unwrap();
        assert_eq!(
            conn.expires(),
            Time::from_secs(i as u64 + 1 + timeout),
            "step {i}: deadline"
        );
        match count {
            Some(Up) => active = true,
            Some(Down) => active = false,
            None => {}
        }
        assert_eq!(conn.counted_active(), active, "step {i}: counted");
        assert_eq!(
            conn.counted_active(),
            state.is_active(),
            "step {i}: counted by state"
        );
    }
}

#[test]
fn nat_handshake_data_and_client_first_close() {
    play(
        &ConnConfig::default(),
        Fwd::Nat,
        &[
            (In, S, SynRecv, 60, Some(Up)),
            (Out, S | A, SynRecv, 60, None),
            (In, A, Established, 900, None),
            (In, P | A, Established, 900, None),
            (Out, P | A, Established, 900, None),
            (In, F | A, CloseWait, 60, Some(Down)),
            (Out, A, CloseWait, 60, None),
            (Out, F | A, TimeWait, 120, None),
            (In, A, TimeWait, 120, None),
        ],
    );
}

#[test]
fn nat_server_first_close() {
    play(
        &ConnConfig::default(),
        Fwd::FullNat,
        &[
            (In, S, SynRecv, 60, Some(Up)),
            (Out, S | A, SynRecv, 60, None),
            (In, A, Established, 900, None),
            (Out, F | A, FinWait, 120, Some(Down)),
            (In, A, FinWait, 120, None),
            (In, F | A, TimeWait, 120, None),
            (Out, A, TimeWait, 120, None),
        ],
    );
}

#[test]
fn dr_sees_only_the_client() {
    play(
        &ConnConfig::default(),
        Fwd::Dr,
        &[
            (In, S, SynRecv, 60, Some(Up)),
            (In, A, Established, 900, None),
            (In, P | A, Established, 900, None),
            // INPUT_ONLY: the client's FIN means FIN_WAIT (ipvsadm's "tcpfin").
            (In, F | A, FinWait, 120, Some(Down)),
            (In, A, FinWait, 120, None),
        ],
    );
}

#[test]
fn resets() {
    play(
        &ConnConfig::default(),
        Fwd::Nat,
        &[
            (In, S, SynRecv, 60, Some(Up)),
            (Out, R | A, Close, 10, Some(Down)),
            // A new SYN on the same tuple reopens it (CLOSE -> SYN_RECV).
            (In, S, SynRecv, 60, Some(Up)),
            (In, A, Established, 900, None),
            (In, R, Close, 10, Some(Down)),
        ],
    );
    // RST in SYN_RECV from the client keeps SYN_RECV (the kernel table).
    play(
        &ConnConfig::default(),
        Fwd::Nat,
        &[(In, S, SynRecv, 60, Some(Up)), (In, R, SynRecv, 60, None)],
    );
}

#[test]
fn secure_tcp_uses_synack_for_dr_syns() {
    let cfg = ConnConfig {
        secure_tcp: true,
        ..ConnConfig::default()
    };
    play(
        &cfg,
        Fwd::Tun,
        &[
            (In, S, SynAck, 120, Some(Up)),
            (In, A, Established, 900, None),
            (In, R, Close, 10, Some(Down)),
        ],
    );
}

#[test]
fn ipvsadm_set_changes_the_next_deadline() {
    let mut timeouts = Timeouts::default();
    timeouts.set(3600, 30, 0);
    let cfg = ConnConfig {
        timeouts,
        secure_tcp: false,
    };
    play(
        &cfg,
        Fwd::Nat,
        &[
            (In, S, SynRecv, 60, Some(Up)),
            (In, A, Established, 3600, None),
            (Out, F, FinWait, 30, Some(Down)),
        ],
    );
}

#[test]
fn udp_and_icmp_have_one_state_and_stay_inactive() {
    let cfg = ConnConfig::default();
    let mut t = ConnTable::with_capacity(4, 77).unwrap();
    for (proto, secs, state) in [
        (Proto::Udp, 300, ConnState::Udp),
        (Proto::Icmp, 60, ConnState::Icmp),
    ] {
        let id = t.insert(&new(proto, Fwd::Nat), Time::ZERO, &cfg).unwrap();
        assert_eq!(t.get(id).unwrap().expires(), Time::from_secs(secs));
        for (i, dir) in [In, Out, In].into_iter().enumerate() {
            let now = Time::from_secs(10 * (i as u64 + 1));
            let tr = t.on_packet(id, dir, S, now, &cfg).unwrap();
            assert_eq!((tr.from, tr.to, tr.count), (state, state, None));
            assert_eq!(
                t.get(id).unwrap().expires(),
                Time::from_secs(10 * (i as u64 + 1) + secs)
            );
        }
        assert!(!t.get(id).unwrap().counted_active());
        assert_eq!(
            t.get(id).unwrap().state().name(),
            if proto == Proto::Udp { "UDP" } else { "ICMP" }
        );
    }
}
