//! End-to-end exchanges through the simulator: client <-> director <-> real
//! server for each forwarding method over TCP and UDP, with handshakes,
//! teardowns, timeouts, several workers, persistence, ICMP errors and TTL.

use core::time::Duration;
use dataplane::conn::{ConnState, Fwd, Proto, TcpState};
use dataplane::service::Persistence;
use dataplane::sim::lab::{self, Svc};
use dataplane::sim::packet::{self, parse, Flags};
use dataplane::sim::{Delivery, Sim};
use dataplane::wire::icmp::{Icmpv4Packet, QuotedIpv4};
use dataplane::wire::ipv4::Ipv4Packet;
use dataplane::{DropReason, Verdict};
use std::net::Ipv4Addr;

const SYN: u8 = Flags::SYN;
const SYN_ACK: u8 = Flags::SYN | Flags::ACK;
const ACK: u8 = Flags::ACK;
const FIN_ACK: u8 = Flags::FIN | Flags::ACK;

/// Checks every checksum of an emitted Ethernet/IPv4 frame with etherparse
/// (unwrapping one IPIP layer).
fn verify(frame: &[u8]) {
    let p = etherparse::SlicedPacket::from_ethernet(frame).expect("parses");
    let Some(etherparse::NetSlice::Ipv4(v4)) = p.net else {
        panic!("not ipv4")
    };
    let h = v4.header().to_header();
    assert_eq!(
        h.calc_header_checksum(),
        h.header_checksum,
        "ip header checksum"
    );
    if h.protocol == etherparse::IpNumber::IPV4 {
        let mut inner = frame[..14].to_vec();
        inner.extend_from_slice(&frame[34..]);
        return verify(&inner);
    }
    let same = |a: u16, b: u16| a == b || (a | b == 0xffff && a & b == 0);
    match p.transport {
        Some(etherparse::TransportSlice::Tcp(t)) => {
            let c = t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap();
            assert!(
                same(c, t.checksum()),
                "tcp checksum {c:04x} vs {:04x}",
                t.checksum()
            );
        }
        Some(etherparse::TransportSlice::Udp(u)) if u.checksum() != 0 => {
            let c = u.to_header().calc_checksum_ipv4(&h, u.payload()).unwrap();
            assert!(same(c, u.checksum()), "udp checksum");
        }
        Some(etherparse::TransportSlice::Icmpv4(i)) => {
            assert_eq!(
                i.icmp_type().calc_checksum(i.payload()),
                i.checksum(),
                "icmp checksum"
            );
        }
        _ => {}
    }
}

fn transmitted(d: &Delivery, port: u16) -> packet::Seen {
    assert_eq!(d.verdict, Verdict::Transmit { port }, "{d:?}");
    verify(&d.frame);
    parse(&d.frame).expect("a tcp/udp frame")
}

fn from_client(i: u32, cport: u16, vport: u16, flags: u8) -> Vec<u8> {
    packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        (lab::client(i), cport),
        (lab::VIP, vport),
        flags,
        b"hello",
    )
}

fn tcp_svc(fwd: Fwd, rport: u16) -> Sim {
    lab::sim(
        lab::snapshot(&[Svc::new(Proto::Tcp, 80, fwd, rport, 2)], 1),
        1,
        1024,
    )
}

#[test]
fn nat_tcp_handshake_teardown_and_expiry() {
    let mut sim = tcp_svc(Fwd::Nat, 8080);
    let cip = lab::client(7);
    let out = transmitted(
        &sim.send(lab::EXT, &from_client(7, 40000, 80, SYN)),
        lab::INT,
    );
    assert_eq!(out.dst, (lab::rs(0), 8080));
    assert_eq!(out.src, (cip, 40000));
    assert_eq!((out.src_mac, out.dst_mac), (lab::INT_MAC, lab::rs_mac(0)));
    assert_eq!(out.ttl, 64, "requests keep their TTL, as IPVS");

    let reply = packet::tcp(
        lab::rs_mac(0),
        lab::INT_MAC,
        (lab::rs(0), 8080),
        (cip, 40000),
        SYN_ACK,
        b"",
    );
    let back = transmitted(&sim.send(lab::INT, &reply), lab::EXT);
    assert_eq!(back.src, (lab::VIP, 80));
    assert_eq!(back.dst, (cip, 40000));
    assert_eq!(
        (back.src_mac, back.dst_mac),
        (lab::EXT_MAC, lab::ROUTER_MAC)
    );
    assert_eq!(back.ttl, 63, "replies are routed");

    transmitted(
        &sim.send(lab::EXT, &from_client(7, 40000, 80, ACK)),
        lab::INT,
    );
    let snap = sim.workers[0].snapshot().clone();
    assert_eq!(snap.counts.load(0), (1, 0), "established counts active");
    let (_, conn) = sim.workers[0].conns().iter().next().unwrap();
    assert_eq!(conn.state(), ConnState::Tcp(TcpState::Established));

    transmitted(
        &sim.send(lab::EXT, &from_client(7, 40000, 80, FIN_ACK)),
        lab::INT,
    );
    let fin = packet::tcp(
        lab::rs_mac(0),
        lab::INT_MAC,
        (lab::rs(0), 8080),
        (cip, 40000),
        FIN_ACK,
        b"",
    );
    transmitted(&sim.send(lab::INT, &fin), lab::EXT);
    transmitted(
        &sim.send(lab::EXT, &from_client(7, 40000, 80, ACK)),
        lab::INT,
    );
    assert_eq!(snap.counts.load(0), (0, 1), "closing conns count inactive");
    assert_eq!(sim.conns(), 1);
    // TIME_WAIT is 120 s.
    sim.advance(Duration::from_secs(119));
    assert_eq!(sim.conns(), 1);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.conns(), 0);
    assert_eq!(snap.counts.load(0), (0, 0));

    let w = &sim.workers[0];
    let (id, s) = w.service_stats().next().unwrap();
    assert_eq!(id, 100);
    assert_eq!((s.conns, s.inpkts, s.outpkts), (1, 4, 2));
    assert_eq!(w.dest_stats()[0].inpkts, 4);
    assert_eq!(s.inbytes, 4 * 45);
}

#[test]
fn nat_udp_round_trip_keeps_a_zero_checksum_and_times_out() {
    let snap = lab::snapshot(&[Svc::new(Proto::Udp, 53, Fwd::Nat, 5353, 1)], 1);
    let mut sim = lab::sim(snap, 1, 64);
    let cip = lab::client(1);
    for with_checksum in [true, false] {
        let q = packet::udp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            (cip, 5000),
            (lab::VIP, 53),
            b"query",
            with_checksum,
        );
        let d = sim.send(lab::EXT, &q);
        let out = transmitted(&d, lab::INT);
        assert_eq!(out.dst, (lab::rs(0), 5353));
        let udp_csum = u16::from_be_bytes([d.frame[40], d.frame[41]]);
        assert_eq!(udp_csum == 0, !with_checksum);
        let r = packet::udp(
            lab::rs_mac(0),
            lab::INT_MAC,
            (lab::rs(0), 5353),
            (cip, 5000),
            b"answer",
            with_checksum,
        );
        let back = transmitted(&sim.send(lab::INT, &r), lab::EXT);
        assert_eq!(back.src, (lab::VIP, 53));
    }
    assert_eq!(sim.conns(), 1);
    sim.advance(Duration::from_secs(301));
    assert_eq!(sim.conns(), 0);
}

#[test]
fn fullnat_rewrites_both_ends_and_partitions_lports() {
    let snap = lab::snapshot(&[Svc::new(Proto::Tcp, 80, Fwd::FullNat, 8080, 1)], 4);
    let mut sim = lab::sim(snap, 4, 1024);
    for i in 0..40u32 {
        let cport = 30000 + u16::try_from(i).unwrap();
        // Enter at any worker: the owner takes it.
        let d = sim.send_at(
            u16::try_from(i % 4).unwrap(),
            lab::EXT,
            &from_client(i, cport, 80, SYN),
        );
        let out = transmitted(&d, lab::INT);
        assert_eq!(out.src.0, lab::LIP);
        assert_eq!(out.dst, (lab::rs(0), 8080));
        assert_eq!(out.src.1 % 4, d.worker, "lport in the owner's partition");
        // The reply, entering anywhere, finds the same owner.
        let reply = packet::tcp(
            lab::rs_mac(0),
            lab::INT_MAC,
            (lab::rs(0), 8080),
            out.src,
            SYN_ACK,
            b"",
        );
        let r = sim.send_at(u16::try_from((i + 1) % 4).unwrap(), lab::INT, &reply);
        let back = transmitted(&r, lab::EXT);
        assert_eq!(r.worker, d.worker);
        assert_eq!(back.src, (lab::VIP, 80));
        assert_eq!(back.dst, (lab::client(i), cport));
    }
    assert_eq!(sim.conns(), 40);
    let redirected: u64 = sim.workers.iter().map(|w| w.stats().redirected).sum();
    assert!(redirected > 0);
    // SYN_RECV times out after 60 s: every conn goes, every count returns to zero.
    sim.advance(Duration::from_secs(61));
    assert_eq!(sim.conns(), 0);
    assert_eq!(sim.workers[0].snapshot().counts.load(0), (0, 0));
}

#[test]
fn nat_replies_find_their_owner_among_workers() {
    let snap = lab::snapshot(&[Svc::new(Proto::Udp, 53, Fwd::Nat, 53, 2)], 3);
    let mut sim = lab::sim(snap, 3, 256);
    for i in 0..30u32 {
        let cip = lab::client(i);
        let q = packet::udp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            (cip, 7000),
            (lab::VIP, 53),
            b"q",
            true,
        );
        let d = sim.send_at(0, lab::EXT, &q);
        let out = transmitted(&d, lab::INT);
        let r = packet::udp(
            lab::rs_mac(0),
            lab::INT_MAC,
            out.dst,
            (cip, 7000),
            b"a",
            true,
        );
        let rs = usize::from(out.dst.0.octets()[3] - 11);
        let r = packet::udp(
            lab::rs_mac(rs),
            lab::INT_MAC,
            out.dst,
            (cip, 7000),
            &r[42..],
            true,
        );
        let back = sim.send_at(2, lab::INT, &r);
        assert_eq!(back.worker, d.worker);
        assert_eq!(transmitted(&back, lab::EXT).src, (lab::VIP, 53));
    }
    let per_worker: Vec<u32> = sim.workers.iter().map(|w| w.conns().len()).collect();
    assert!(per_worker.iter().all(|&n| n > 3), "{per_worker:?}");
}

#[test]
fn dr_rewrites_only_the_mac() {
    let mut sim = tcp_svc(Fwd::Dr, 9999);
    let syn = from_client(3, 41000, 80, SYN);
    let d = sim.send(lab::EXT, &syn);
    let out = transmitted(&d, lab::INT);
    assert_eq!((out.src_mac, out.dst_mac), (lab::INT_MAC, lab::rs_mac(0)));
    assert_eq!(
        &d.frame[12..],
        &syn[12..],
        "IP and above untouched, no port mapping"
    );
    // The rest of the flow, ACKs without replies, stays on the conn.
    transmitted(
        &sim.send(lab::EXT, &from_client(3, 41000, 80, ACK)),
        lab::INT,
    );
    assert_eq!(sim.conns(), 1);
    let (_, c) = sim.workers[0].conns().iter().next().unwrap();
    assert_eq!(c.real(), (lab::rs(0), 80));
}

#[test]
fn tun_encapsulates_and_answers_too_big_with_frag_needed() {
    let mut sim = tcp_svc(Fwd::Tun, 80);
    let syn = from_client(4, 42000, 80, SYN);
    let d = sim.send(lab::EXT, &syn);
    assert_eq!(d.verdict, Verdict::Transmit { port: lab::INT });
    verify(&d.frame);
    assert_eq!(d.frame.len(), syn.len() + 20);
    let outer = Ipv4Packet::new_checked(&d.frame[14..]).unwrap();
    assert_eq!(outer.protocol().0, 4);
    assert_eq!(
        (outer.src_addr(), outer.dst_addr()),
        (lab::DIP_INT, lab::rs(0))
    );
    assert_eq!((outer.ttl(), outer.dont_frag()), (64, true));
    assert_eq!(outer.payload(), &syn[14..]);
    assert_eq!(&d.frame[0..6], &lab::rs_mac(0).0);

    // 1480 bytes of IP with DF: 1500 once wrapped would be 1500 + 20.
    let big = packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        (lab::client(4), 42000),
        (lab::VIP, 80),
        ACK,
        &[7u8; 1460],
    );
    let d = sim.send(lab::EXT, &big);
    assert_eq!(d.verdict, Verdict::Transmit { port: lab::EXT });
    verify(&d.frame);
    let ip = Ipv4Packet::new_checked(&d.frame[14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (lab::VIP, lab::client(4)));
    let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
    assert_eq!((icmp.msg_type().0, icmp.msg_code()), (3, 4));
    assert_eq!(icmp.next_hop_mtu(), 1480);
    assert_eq!(sim.workers[0].stats().icmp_errors, 1);

    // Without DF (UDP here): dropped and counted.
    let snap = lab::snapshot(&[Svc::new(Proto::Udp, 53, Fwd::Tun, 53, 1)], 1);
    let mut sim = lab::sim(snap, 1, 64);
    let big = packet::udp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        (lab::client(1), 1),
        (lab::VIP, 53),
        &[0u8; 1472],
        true,
    );
    assert_eq!(
        sim.send(lab::EXT, &big).verdict,
        Verdict::Drop(DropReason::TooBig)
    );
}

#[test]
fn icmp_errors_are_translated_for_nat_and_fullnat() {
    for fwd in [Fwd::Nat, Fwd::FullNat] {
        let mut sim = tcp_svc(fwd, 8080);
        let d = sim.send(lab::EXT, &from_client(9, 43000, 80, SYN));
        let fwd_pkt = d.frame[14..].to_vec();
        let seen = parse(&d.frame).unwrap();
        // The real server says "fragmentation needed" about what it got.
        let mut err = vec![0u8; 14 + 576];
        err[..14]
            .copy_from_slice(&[&lab::INT_MAC.0[..], &lab::rs_mac(0).0[..], &[0x08, 0x00]].concat());
        let n = dataplane::wire::icmp::emit_error(
            &mut err[14..],
            dataplane::wire::icmp::Icmpv4Error::FragNeeded { next_hop_mtu: 1400 },
            lab::rs(0),
            &fwd_pkt,
        )
        .unwrap();
        err.truncate(14 + n);
        let back = sim.send(lab::INT, &err);
        assert_eq!(
            back.verdict,
            Verdict::Transmit { port: lab::EXT },
            "{fwd:?}"
        );
        verify(&back.frame);
        let ip = Ipv4Packet::new_checked(&back.frame[14..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (lab::VIP, lab::client(9)));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.next_hop_mtu(), 1400);
        let q = QuotedIpv4::new_checked(&ip.payload()[8..]).unwrap();
        assert_eq!((q.src_addr(), q.dst_addr()), (lab::client(9), lab::VIP));
        assert_eq!(q.ports(), Some((43000, 80)));
        // The quoted header checksum was refreshed.
        assert!(dataplane::wire::checksum::verify(&ip.payload()[8..28]));
        let _ = seen;
    }
}

#[test]
fn reply_ttl_running_out_gets_time_exceeded() {
    let mut sim = tcp_svc(Fwd::Nat, 80);
    let cip = lab::client(2);
    transmitted(
        &sim.send(lab::EXT, &from_client(2, 44000, 80, SYN)),
        lab::INT,
    );
    let mut reply = packet::tcp(
        lab::rs_mac(0),
        lab::INT_MAC,
        (lab::rs(0), 80),
        (cip, 44000),
        SYN_ACK,
        b"",
    );
    reply[22] = 1; // TTL
    let mut ip = Ipv4Packet::new_unchecked(&mut reply[14..34]);
    ip.fill_checksum();
    let d = sim.send(lab::INT, &reply);
    assert_eq!(d.verdict, Verdict::Transmit { port: lab::INT });
    verify(&d.frame);
    let ip = Ipv4Packet::new_checked(&d.frame[14..]).unwrap();
    assert_eq!((ip.src_addr(), ip.dst_addr()), (lab::DIP_INT, lab::rs(0)));
    assert_eq!(ip.payload()[0], 11);
}

#[test]
fn persistence_sticks_until_the_dest_is_quiesced() {
    let mut svc = Svc::new(Proto::Tcp, 0, Fwd::Nat, 0, 3);
    svc.persistence = Some(Persistence {
        timeout: Duration::from_secs(360),
        netmask_len: 24,
    });
    let mut sim = lab::sim(lab::snapshot(&[svc], 1), 1, 1024);
    // PCC: any port of the VIP, same client network, same dest.
    let first = transmitted(
        &sim.send(lab::EXT, &from_client(1, 1000, 80, SYN)),
        lab::INT,
    );
    for (i, port) in [(2u32, 443u16), (3, 22), (1, 8443)] {
        let out = transmitted(
            &sim.send(lab::EXT, &from_client(i, 1001, port, SYN)),
            lab::INT,
        );
        assert_eq!(out.dst, (first.dst.0, port), "port-0 dest keeps the port");
    }
    // Another /24 is scheduled afresh (rr moves on).
    let other = transmitted(
        &sim.send(lab::EXT, &from_client(300, 1000, 80, SYN)),
        lab::INT,
    );
    assert_ne!(other.dst.0, first.dst.0);
    assert_eq!(sim.workers[0].templates().len(), 2);

    // Quiesce the first dest: the template stops attracting.
    let rs0 = usize::from(first.dst.0.octets()[3] - 11);
    let mut weights = [1u32; 3];
    weights[rs0] = 0;
    let dests = lab::dests(0, &svc, &weights);
    let next = lab::snapshot_with(vec![lab::service(0, &svc, dests)], 1, 2);
    let mut next = next;
    next.counts = sim.workers[0].snapshot().counts.clone();
    sim.set_snapshot(&std::sync::Arc::new(next));
    let moved = transmitted(
        &sim.send(lab::EXT, &from_client(1, 2000, 80, SYN)),
        lab::INT,
    );
    assert_ne!(moved.dst.0, first.dst.0);

    // Templates outlive their conns by their timeout.
    sim.advance(Duration::from_secs(61)); // SYN_RECV conns gone
    assert_eq!(sim.conns(), 0);
    assert_eq!(sim.workers[0].templates().len(), 2);
    sim.advance(Duration::from_secs(400));
    assert!(sim.workers[0].templates().is_empty());
}

#[test]
fn drops_have_reasons() {
    let mut sim = tcp_svc(Fwd::Nat, 80);
    let w = |sim: &mut Sim, f: &[u8]| sim.send(lab::EXT, f).verdict;
    assert_eq!(
        w(&mut sim, &from_client(1, 1, 80, ACK)),
        Verdict::Drop(DropReason::NoConn)
    );
    assert_eq!(
        w(&mut sim, &from_client(1, 1, 81, SYN)),
        Verdict::Drop(DropReason::NotForUs)
    );
    let mut frag = from_client(1, 1, 80, SYN);
    frag[20] = 0x20; // MF
    Ipv4Packet::new_unchecked(&mut frag[14..34]).fill_checksum();
    assert_eq!(w(&mut sim, &frag), Verdict::Drop(DropReason::Fragment));
    let martian = packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        (Ipv4Addr::new(127, 0, 0, 1), 1),
        (lab::VIP, 80),
        SYN,
        b"",
    );
    assert_eq!(w(&mut sim, &martian), Verdict::Drop(DropReason::Martian));
    // SSH to the DIP goes to the kernel.
    let ssh = packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        (lab::client(1), 5),
        (lab::DIP, 22),
        SYN,
        b"",
    );
    assert_eq!(w(&mut sim, &ssh), Verdict::ToKernel { port: lab::EXT });

    // A real server nobody resolved yet: drop, and an ARP request goes out.
    let snap = lab::snapshot(&[Svc::new(Proto::Tcp, 80, Fwd::Nat, 80, 1)], 1);
    let mut bare = dataplane::Worker::new(1, std::sync::Arc::new(snap));
    let mut fb = dataplane::frame::FrameBuf::with_default_room(&from_client(1, 2, 80, SYN));
    let v = fb.with_frame(|f| bare.process(dataplane::Time::ZERO, lab::EXT, f));
    assert_eq!(v, Verdict::Drop(DropReason::NeighUnresolved));
    let mut buf = [0u8; 64];
    let (port, _) = bare.poll_transmit(dataplane::Time::ZERO, &mut buf).unwrap();
    assert_eq!(port, lab::INT);
    assert_eq!(&buf[38..42], &lab::rs(0).octets());
    let total = sim.workers[0].stats().drops.total() + sim.workers[0].stats().to_kernel;
    assert_eq!(total, sim.workers[0].stats().rx_frames);
}

#[test]
fn arp_and_ping_for_vip_and_lip() {
    let mut sim = tcp_svc(Fwd::FullNat, 80);
    for target in [lab::VIP, lab::LIP, lab::DIP] {
        let mut req = vec![0u8; 60];
        let repr = dataplane::wire::arp::ArpRepr {
            operation: dataplane::wire::arp::ArpOperation::REQUEST,
            source_hardware_addr: lab::ROUTER_MAC,
            source_protocol_addr: lab::ROUTER,
            target_hardware_addr: dataplane::addr::MacAddr::ZERO,
            target_protocol_addr: target,
        };
        dataplane::stack::neigh::emit_arp_frame(
            lab::ROUTER_MAC,
            dataplane::addr::MacAddr::BROADCAST,
            &repr,
            &mut req,
        )
        .unwrap();
        let d = sim.send(lab::EXT, &req);
        assert_eq!(d.verdict, Verdict::Transmit { port: lab::EXT }, "{target}");
        assert_eq!(&d.frame[28..32], &target.octets());
    }
}
