//! Bad input through the whole packet path with services configured:
//! arbitrary bytes and mutated valid frames (truncated, runts, jumbo, bad
//! IHL and lengths, IP options, bad checksums, unknown ethertypes) end as a
//! verdict, never a panic, and every frame is accounted for. This is also
//! the stable mirror of the cargo-fuzz target `fuzz/fuzz_targets/packet.rs`.

use dataplane::conn::{Fwd, Proto};
use dataplane::frame::FrameBuf;
use dataplane::sim::lab::{self, Svc};
use dataplane::sim::packet;
use dataplane::{Time, Verdict, Worker};
use proptest::prelude::*;
use std::sync::Arc;

fn worker() -> Worker {
    let snap = lab::snapshot(
        &[
            Svc::new(Proto::Tcp, 80, Fwd::Nat, 8080, 2),
            Svc::new(Proto::Udp, 53, Fwd::FullNat, 53, 1),
            Svc::new(Proto::Tcp, 443, Fwd::Tun, 443, 1),
            Svc::new(Proto::Tcp, 22, Fwd::Dr, 22, 1),
        ],
        1,
    );
    let mut w = Worker::new(0, Arc::new(snap));
    for i in 0..4 {
        w.neigh_mut().learn(
            Time::ZERO,
            lab::INT,
            lab::rs(i),
            lab::rs_mac(i),
            dataplane::stack::neigh::Learn::Request,
        );
    }
    w
}

/// Runs one frame; checks the accounting invariant and that what is
/// transmitted is at least an Ethernet header.
fn run(w: &mut Worker, port: u16, bytes: &[u8]) -> Verdict {
    let before = w.stats().clone();
    let mut fb = FrameBuf::with_default_room(bytes);
    let v = fb.with_frame(|f| w.process(Time::ZERO, port, f));
    let s = w.stats();
    assert_eq!(s.rx_frames, before.rx_frames + 1);
    let accounted = s.tx_frames + s.redirected + s.to_kernel + s.drops.total();
    assert_eq!(accounted, s.rx_frames);
    if let Verdict::Transmit { .. } = v {
        assert!(fb.data().len() >= 14);
    }
    v
}

fn seeds() -> Vec<Vec<u8>> {
    let c = (lab::client(1), 1234);
    vec![
        packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            c,
            (lab::VIP, 80),
            packet::Flags::SYN,
            b"x",
        ),
        packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            c,
            (lab::VIP, 443),
            packet::Flags::SYN,
            &[0; 1400],
        ),
        packet::udp(lab::ROUTER_MAC, lab::EXT_MAC, c, (lab::VIP, 53), b"q", true),
        packet::tcp(
            lab::ROUTER_MAC,
            lab::EXT_MAC,
            c,
            (lab::VIP, 22),
            packet::Flags::SYN,
            b"",
        ),
    ]
}

#[test]
fn handpicked_bad_frames_are_counted_drops() {
    let mut w = worker();
    let good = seeds()[0].clone();
    assert_eq!(
        run(&mut w, lab::EXT, &good),
        Verdict::Transmit { port: lab::INT }
    );
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        good[..10].to_vec(),
        good[..30].to_vec(), // runt IP header
        good[..40].to_vec(), // IP total length beyond the bytes
        {
            let mut b = good.clone();
            b[14] = 0x44; // IHL 4
            b
        },
        {
            let mut b = good.clone();
            b[14] = 0x4f; // IHL 15 > bytes of header present (checksum now wrong too)
            b
        },
        {
            let mut b = good.clone();
            b[24] ^= 0xff; // header checksum
            b
        },
        {
            let mut b = good.clone();
            b[12] = 0x88; // unknown ethertype
            b
        },
        {
            let mut b = good.clone();
            b[46] = 0x10; // TCP data offset 4 words
            b
        },
        vec![0u8; 9000], // jumbo of zeroes
    ];
    for c in cases {
        let v = run(&mut w, lab::EXT, &c);
        assert!(matches!(v, Verdict::Drop(_)), "{v:?} for {c:02x?}");
    }
    // IP options are carried, not refused.
    let mut opt = good[..34].to_vec();
    opt[14] = 0x46;
    opt.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    opt.extend_from_slice(&good[34..]);
    let total = u16::from_be_bytes([opt[16], opt[17]]) + 4;
    opt[16..18].copy_from_slice(&total.to_be_bytes());
    let mut ip = dataplane::wire::ipv4::Ipv4Packet::new_unchecked(&mut opt[14..38]);
    ip.fill_checksum();
    let mut w = worker();
    let mut fb = FrameBuf::with_default_room(&opt);
    let v = fb.with_frame(|f| w.process(Time::ZERO, lab::EXT, f));
    assert_eq!(v, Verdict::Transmit { port: lab::INT });
    assert_eq!(packet::parse(fb.data()).unwrap().dst, (lab::rs(0), 8080));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..1600),
        port in 0u16..3,
    ) {
        let mut w = worker();
        run(&mut w, port, &bytes);
    }

    #[test]
    fn mutated_frames_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((0usize..80, any::<u8>()), 1..6),
        cut in 0usize..1500,
        rx in 0u16..2,
    ) {
        let mut bytes = seeds()[which].clone();
        for (at, v) in flips {
            let at = at % bytes.len();
            bytes[at] = v;
        }
        bytes.truncate(cut.max(1));
        let mut w = worker();
        // Twice: the second may hit the conn the first created.
        run(&mut w, rx, &bytes);
        run(&mut w, rx, &bytes);
    }
}
