//! Writes the seed corpus of the `packet` fuzz target into
//! `fuzz/corpus/packet/` (removing what was there): real frames for the
//! target's services, built with the dataplane's own builders, and a few
//! sequences of templates (`fuzz/src/template.rs`). Replies from real
//! servers are built from what the dataplane actually forwarded, so they
//! match its conns. Prints each seed's verdicts.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus
//! ```

use dataplane::addr::MacAddr;
use dataplane::frame::FrameBuf;
use dataplane::sim::lab::{self, EXT, INT};
use dataplane::sim::packet::{self, Flags};
use dataplane::stack::neigh::emit_arp_frame;
use dataplane::wire::arp::{ArpOperation, ArpRepr};
use dataplane::wire::ethernet::{EtherType, EthernetRepr};
use dataplane::wire::icmp::{self, Icmpv4Error, Icmpv4Packet, Icmpv4Type};
use dataplane::wire::ip::IpProtocol;
use dataplane::wire::ipv4::{Ipv4Packet, Ipv4Repr};
use dataplane::{PortId, Time, Verdict, Worker};
use rvs_fuzz::{advance, records, worker, History, SEP};
use std::error::Error;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

type Res<T> = Result<T, Box<dyn Error>>;

/// One frame of a seed: rx port, seconds the clock moves first, bytes.
type Rec = (PortId, u8, Vec<u8>);

/// A seed: file name, whether its records ask for checksums to be fixed
/// (all but one: its mutants then get past the IPv4 checksum check), and
/// its frames.
type Seed = (&'static str, bool, Vec<Rec>);

/// The client every seed speaks for.
fn client() -> (Ipv4Addr, u16) {
    (lab::client(1), 40000)
}

/// A TCP segment from the client to VIP:`vport`.
fn tcp_in(vport: u16, flags: u8) -> Vec<u8> {
    packet::tcp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        client(),
        (lab::VIP, vport),
        flags,
        b"",
    )
}

/// A UDP datagram from the client to VIP:53.
fn udp_in(payload: &[u8], with_checksum: bool) -> Vec<u8> {
    packet::udp(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        client(),
        (lab::VIP, 53),
        payload,
        with_checksum,
    )
}

/// An Ethernet frame around `payload`.
fn eth(src: MacAddr, dst: MacAddr, vlan: Option<u16>, ty: EtherType, payload: &[u8]) -> Vec<u8> {
    let repr = EthernetRepr {
        src_addr: src,
        dst_addr: dst,
        vlan_id: vlan,
        ethertype: ty,
    };
    let mut b = vec![0u8; repr.header_len()];
    // The buffer is the header's size: emit cannot fail.
    let _ = repr.emit(&mut b);
    b.extend_from_slice(payload);
    b
}

/// An IPv4 datagram (no options, no DF) carrying `l4`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, l4: &[u8]) -> Res<Vec<u8>> {
    let repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol,
        payload_len: u16::try_from(l4.len())?,
        ttl: 64,
        dont_frag: false,
        ident: 7,
    };
    let mut b = vec![0u8; repr.header_len() + l4.len()];
    repr.emit(&mut b).map_err(|e| format!("{e:?}"))?;
    b[repr.header_len()..].copy_from_slice(l4);
    Ok(b)
}

/// An ARP frame on the wire (padded to 60 bytes).
fn arp(op: ArpOperation, from: (MacAddr, Ipv4Addr), to: (MacAddr, Ipv4Addr)) -> Res<Vec<u8>> {
    let repr = ArpRepr {
        operation: op,
        source_hardware_addr: from.0,
        source_protocol_addr: from.1,
        target_hardware_addr: if op == ArpOperation::REQUEST {
            MacAddr::ZERO
        } else {
            to.0
        },
        target_protocol_addr: to.1,
    };
    let mut b = vec![0u8; 60];
    let n = emit_arp_frame(from.0, to.0, &repr, &mut b).ok_or("ARP frame did not fit")?;
    b.truncate(n.max(60));
    Ok(b)
}

/// An ICMP echo request from the client to `dst`.
fn echo(dst: Ipv4Addr) -> Res<Vec<u8>> {
    let mut l4 = vec![0u8; 8 + 8];
    l4[8..].copy_from_slice(b"rvs-ping");
    let mut p = Icmpv4Packet::new_unchecked(&mut l4[..]);
    p.set_msg_type(Icmpv4Type::ECHO_REQUEST);
    p.set_msg_code(0);
    p.set_echo_ident(0x1234);
    p.set_echo_seq_no(1);
    p.fill_checksum();
    let ip = ipv4(client().0, dst, IpProtocol::ICMP, &l4)?;
    Ok(eth(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        None,
        EtherType::IPV4,
        &ip,
    ))
}

/// The ICMP error `error` from `from` about the IPv4 packet in Ethernet
/// frame `offending`, sent back the way `offending` came.
fn icmp_error(error: Icmpv4Error, from: Ipv4Addr, offending: &[u8]) -> Res<Vec<u8>> {
    let seen = packet::parse(offending).ok_or("offending frame is not TCP/UDP")?;
    let mut ip = vec![0u8; 576];
    let n =
        icmp::emit_error(&mut ip, error, from, &offending[14..]).map_err(|e| format!("{e:?}"))?;
    ip.truncate(n);
    Ok(eth(seen.dst_mac, seen.src_mac, None, EtherType::IPV4, &ip))
}

/// Runs `frame` through `w` on `port` at `now`: the verdict and the frame
/// after.
fn run(w: &mut Worker, now: Time, port: PortId, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut fb = FrameBuf::with_default_room(frame);
    let v = fb.with_frame(|f| w.process(now, port, f));
    (v, fb.data().to_vec())
}

/// Runs `frame` through `w`; the frame as transmitted, or an error.
fn forwarded(w: &mut Worker, port: PortId, frame: &[u8]) -> Res<Vec<u8>> {
    match run(w, Time::ZERO, port, frame) {
        (Verdict::Transmit { .. }, out) => Ok(out),
        (v, _) => Err(format!("seed frame not forwarded: {v:?}").into()),
    }
}

/// The TCP segment the real server sends back for the forwarded segment
/// `fwd` (addresses and ports swapped, straight back to the director).
fn tcp_reply(fwd: &[u8], flags: u8) -> Res<Vec<u8>> {
    let s = packet::parse(fwd).ok_or("forwarded frame is not TCP/UDP")?;
    Ok(packet::tcp(s.dst_mac, s.src_mac, s.dst, s.src, flags, b""))
}

/// [`tcp_reply`] for UDP.
fn udp_reply(fwd: &[u8], payload: &[u8]) -> Res<Vec<u8>> {
    let s = packet::parse(fwd).ok_or("forwarded frame is not TCP/UDP")?;
    Ok(packet::udp(
        s.dst_mac, s.src_mac, s.dst, s.src, payload, true,
    ))
}

/// `frame` with IPv4 `options` (padded to whole words) after the header.
fn with_ip_options(frame: &[u8], options: &[u8]) -> Res<Vec<u8>> {
    let mut opts = options.to_vec();
    opts.resize(options.len().div_ceil(4) * 4, 0);
    let mut b = frame[..34].to_vec();
    b.extend_from_slice(&opts);
    b.extend_from_slice(&frame[34..]);
    let total = u16::try_from(b.len() - 14)?;
    let mut ip = Ipv4Packet::new_unchecked(&mut b[14..]);
    ip.set_version_and_header_len(20 + opts.len());
    ip.set_total_len(total);
    ip.fill_checksum();
    Ok(b)
}

/// The IPv4 packet of `frame` cut to `l4` (bytes `start..` of its
/// payload, the rest dropped) with fragment offset `start` and MF `more`.
fn fragment(frame: &[u8], start: usize, len: usize, more: bool) -> Res<Vec<u8>> {
    let l4 = frame
        .get(34 + start..34 + start + len)
        .ok_or("fragment out of range")?;
    let mut b = frame[..34].to_vec();
    b.extend_from_slice(l4);
    let total = u16::try_from(20 + len)?;
    let units = u16::try_from(start / 8)?;
    let mut ip = Ipv4Packet::new_unchecked(&mut b[14..]);
    ip.set_total_len(total);
    // Flags and offset (RFC 791): MF is 0x2000, the offset in 8-byte units.
    let flg_off = if more { 0x2000 } else { 0 } | units;
    ip.into_inner()[6..8].copy_from_slice(&flg_off.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut b[14..]).fill_checksum();
    Ok(b)
}

/// `frame` with TTL `ttl`.
fn with_ttl(frame: &[u8], ttl: u8) -> Vec<u8> {
    let mut b = frame.to_vec();
    let mut ip = Ipv4Packet::new_unchecked(&mut b[14..]);
    ip.set_ttl(ttl);
    ip.fill_checksum();
    b
}

/// A TCP SYN over IPv6 from 2001:db8::1 to 2001:db8::64, port 80 (no
/// IPv6 address is configured: the director must pass or drop it).
fn ipv6_syn() -> Vec<u8> {
    let mut ip = vec![0u8; 40 + 20];
    ip[0] = 0x60; // version 6
    ip[4..6].copy_from_slice(&20u16.to_be_bytes()); // payload length
    ip[6] = IpProtocol::TCP.0;
    ip[7] = 64; // hop limit
    ip[8..24].copy_from_slice(
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .map(|a| a.octets())
            .unwrap_or_default(),
    );
    ip[24..40].copy_from_slice(
        &"2001:db8::64"
            .parse::<std::net::Ipv6Addr>()
            .map(|a| a.octets())
            .unwrap_or_default(),
    );
    let tcp = &mut ip[40..];
    tcp[0..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&80u16.to_be_bytes());
    tcp[12] = 5 << 4; // data offset: 5 words
    tcp[13] = Flags::SYN;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    eth(lab::ROUTER_MAC, lab::EXT_MAC, None, EtherType::IPV6, &ip)
}

fn seeds() -> Res<Vec<Seed>> {
    let mut out: Vec<(&'static str, Vec<Rec>)> = Vec::new();
    let syn80 = tcp_in(80, Flags::SYN);
    let arp_dip_int = arp(
        ArpOperation::REQUEST,
        (lab::rs_mac(0), lab::rs(0)),
        (MacAddr::BROADCAST, lab::DIP_INT),
    )?;

    out.push((
        "arp-request-vip",
        vec![(
            EXT,
            0,
            arp(
                ArpOperation::REQUEST,
                (lab::ROUTER_MAC, lab::ROUTER),
                (MacAddr::BROADCAST, lab::VIP),
            )?,
        )],
    ));
    out.push(("arp-request-dip-int", vec![(INT, 0, arp_dip_int.clone())]));
    out.push((
        "arp-reply-new-rs",
        vec![(
            INT,
            0,
            arp(
                ArpOperation::REPLY,
                (lab::rs_mac(5), lab::rs(5)),
                (lab::INT_MAC, lab::DIP_INT),
            )?,
        )],
    ));
    out.push(("icmp-echo-dip", vec![(EXT, 0, echo(lab::DIP)?)]));
    out.push(("icmp-echo-vip", vec![(EXT, 0, echo(lab::VIP)?)]));

    for (name, vport) in [("tcp-80-nat", 80), ("tcp-443-tun", 443), ("tcp-22-dr", 22)] {
        let syn = tcp_in(vport, Flags::SYN);
        let (syn_name, flow_name): (&'static str, &'static str) = match name {
            "tcp-80-nat" => ("tcp-80-nat-syn", "tcp-80-nat-syn-ack-fin"),
            "tcp-443-tun" => ("tcp-443-tun-syn", "tcp-443-tun-syn-ack-fin"),
            _ => ("tcp-22-dr-syn", "tcp-22-dr-syn-ack-fin"),
        };
        out.push((syn_name, vec![(EXT, 0, syn.clone())]));
        out.push((
            flow_name,
            vec![
                (EXT, 0, syn),
                (EXT, 0, tcp_in(vport, Flags::ACK)),
                (EXT, 0, tcp_in(vport, Flags::FIN | Flags::ACK)),
            ],
        ));
    }
    out.push((
        "tcp-8080-no-service",
        vec![(EXT, 0, tcp_in(8080, Flags::SYN))],
    ));

    // NAT: the whole exchange, the real server's half built from what the
    // director forwarded.
    let mut w = worker();
    let fwd = forwarded(&mut w, EXT, &syn80)?;
    let syn_ack = tcp_reply(&fwd, Flags::SYN | Flags::ACK)?;
    let to_client = forwarded(&mut w, INT, &syn_ack)?;
    out.push((
        "tcp-80-nat-reply",
        vec![
            (EXT, 0, syn80.clone()),
            (INT, 0, syn_ack.clone()),
            (EXT, 0, tcp_in(80, Flags::ACK)),
            (INT, 0, tcp_reply(&fwd, Flags::FIN | Flags::ACK)?),
            (EXT, 0, tcp_in(80, Flags::RST)),
        ],
    ));
    out.push((
        "icmp-frag-needed-from-rs",
        vec![
            (EXT, 0, syn80.clone()),
            (
                INT,
                0,
                icmp_error(
                    Icmpv4Error::FragNeeded { next_hop_mtu: 1400 },
                    packet::parse(&fwd).ok_or("fwd")?.dst.0,
                    &fwd,
                )?,
            ),
        ],
    ));
    out.push((
        "icmp-unreachable-from-client",
        vec![
            (EXT, 0, syn80.clone()),
            (INT, 0, syn_ack),
            (
                EXT,
                0,
                icmp_error(Icmpv4Error::DestUnreachable(3), client().0, &to_client)?,
            ),
        ],
    ));

    // FullNAT over UDP, and the real server's answer to the LIP.
    let query = udp_in(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", true);
    let mut w = worker();
    let fwd = forwarded(&mut w, EXT, &query)?;
    out.push(("udp-53-fullnat", vec![(EXT, 0, query.clone())]));
    out.push((
        "udp-53-fullnat-reply",
        vec![
            (EXT, 0, query.clone()),
            (INT, 0, udp_reply(&fwd, b"\x12\x34\x81\x80")?),
        ],
    ));
    out.push(("udp-53-no-checksum", vec![(EXT, 0, udp_in(b"q", false))]));
    let big = udp_in(&[0x5a; 24], true);
    out.push((
        "udp-53-fragments",
        vec![
            (EXT, 0, fragment(&big, 0, 16, true)?),
            (EXT, 0, fragment(&big, 16, 16, false)?),
        ],
    ));
    out.push((
        "tcp-80-first-fragment",
        vec![(EXT, 0, fragment(&syn80, 0, 16, true)?)],
    ));

    // IP options: four NOPs; record route with room for one address.
    out.push((
        "tcp-80-ip-options-nop",
        vec![(EXT, 0, with_ip_options(&syn80, &[1, 1, 1, 0])?)],
    ));
    out.push((
        "tcp-80-ip-options-rr",
        vec![(EXT, 0, with_ip_options(&syn80, &[7, 7, 4, 0, 0, 0, 0])?)],
    ));
    let tagged = eth(
        lab::ROUTER_MAC,
        lab::EXT_MAC,
        Some(100),
        EtherType::IPV4,
        &syn80[14..],
    );
    out.push(("tcp-80-vlan-100", vec![(EXT, 0, tagged)]));
    out.push(("tcp-80-ttl-1", vec![(EXT, 0, with_ttl(&syn80, 1))]));
    for (name, len) in [
        ("tcp-80-truncated-20", 20),
        ("tcp-80-truncated-34", 34),
        ("tcp-80-truncated-40", 40),
    ] {
        out.push((name, vec![(EXT, 0, syn80[..len].to_vec())]));
    }
    out.push(("tcp-80-unknown-port", vec![(2, 0, syn80.clone())]));
    out.push((
        "tcp-80-conn-expires",
        vec![
            (EXT, 0, syn80.clone()),
            (INT, 42, arp_dip_int.clone()),
            (EXT, 42, tcp_in(80, Flags::ACK)),
        ],
    ));
    // Three clients in one burst.
    let many = (2..5)
        .map(|i| {
            let f = packet::tcp(
                lab::ROUTER_MAC,
                lab::EXT_MAC,
                (lab::client(i), 40000),
                (lab::VIP, 80),
                Flags::SYN,
                b"",
            );
            (EXT, 0, f)
        })
        .collect();
    out.push(("tcp-80-three-clients", many));
    // Four FullNAT conns: every local port the workers have.
    let four = (2..6)
        .map(|i| {
            let f = packet::udp(
                lab::ROUTER_MAC,
                lab::EXT_MAC,
                (lab::client(i), 5353),
                (lab::VIP, 53),
                b"q",
                true,
            );
            (EXT, 0, f)
        })
        .collect();
    out.push(("udp-53-four-clients", four));
    out.push(("ipv6-tcp-syn", vec![(EXT, 0, ipv6_syn())]));
    out.extend(template_seeds());
    let mut seeds: Vec<Seed> = out.into_iter().map(|(n, r)| (n, true, r)).collect();
    // The one seed whose checksum stays wrong.
    let mut bad = syn80.clone();
    bad[14 + 10] ^= 0xff;
    seeds.push(("tcp-80-bad-ip-checksum", false, vec![(EXT, 0, bad)]));
    Ok(seeds)
}

/// Seeds made of templates (`fuzz/src/template.rs`): whole exchanges,
/// each answer built from what the worker sent last.
fn template_seeds() -> Vec<(&'static str, Vec<Rec>)> {
    let (syn, ack, fin_ack, syn_ack) = (
        Flags::SYN,
        Flags::ACK,
        Flags::FIN | Flags::ACK,
        Flags::SYN | Flags::ACK,
    );
    let t = |port: PortId, bytes: &[u8]| (port, 0, bytes.to_vec());
    vec![
        (
            // Client SYN, server SYN-ACK, client ACK, server FIN, client
            // FIN, server ACK: each an answer to the latest frame out.
            "tpl-nat-exchange",
            vec![
                t(EXT, &[0, 0, 0, syn]),
                t(INT, &[2, 0, 0, syn_ack]),
                t(EXT, &[2, 0, 0, ack]),
                t(INT, &[2, 0, 0, fin_ack]),
                t(EXT, &[2, 0, 0, fin_ack]),
                t(INT, &[2, 0, 0, ack]),
            ],
        ),
        (
            "tpl-fullnat-exchange",
            vec![t(EXT, &[1, 3, 0]), t(INT, &[2]), t(EXT, &[2])],
        ),
        (
            // 1350 bytes of payload: too big for the TUN overhead.
            "tpl-tun-too-big",
            vec![t(EXT, &[0, 1, 0, syn, 0xf0])],
        ),
        ("tpl-dr-vlan-options", vec![t(EXT, &[0, 2, 0, syn, 0x03])]),
        (
            // Fragmentation needed and time exceeded about a forwarded SYN.
            "tpl-icmp-errors",
            vec![
                t(EXT, &[0, 0, 0, syn]),
                t(INT, &[3, 0, 0, 1, 0xe4]),
                t(INT, &[3, 1, 0, 2]),
            ],
        ),
        ("tpl-arp", vec![t(EXT, &[4, 0, 0]), t(INT, &[4, 2, 1, 1])]),
        (
            // Every FullNAT local port taken: one more client and the pool
            // is exhausted.
            "tpl-fullnat-four-clients",
            vec![
                t(EXT, &[1, 3, 0x00]),
                t(EXT, &[1, 3, 0x01]),
                t(EXT, &[1, 3, 0x02]),
                t(EXT, &[1, 3, 0x03]),
            ],
        ),
        (
            "tpl-four-clients",
            vec![
                t(EXT, &[0, 0, 0x00, syn]),
                t(EXT, &[0, 0, 0x01, syn]),
                t(EXT, &[0, 0, 0x12, syn]),
                t(EXT, &[0, 0, 0x13, syn]),
            ],
        ),
    ]
}

/// The seed's bytes, checked to read back as the same records.
fn encode(recs: &[Rec], fix: bool) -> Res<Vec<u8>> {
    let mut b = Vec::new();
    for (i, (port, secs, frame)) in recs.iter().enumerate() {
        if i > 0 {
            b.extend_from_slice(SEP);
        }
        b.push(rvs_fuzz::ctl(*port, *secs, fix).ok_or("port or seconds out of range")?);
        b.extend_from_slice(frame);
    }
    let back = records(&b);
    let same =
        back.len() == recs.len() && back.iter().zip(recs).all(|(r, (_, _, f))| r.frame == *f);
    if !same {
        return Err("a frame holds the record separator, or a wrong checksum".into());
    }
    Ok(b)
}

fn main() -> Res<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/packet");
    if dir.exists() {
        for e in fs::read_dir(&dir)? {
            let p = e?.path();
            if p.is_file() {
                fs::remove_file(p)?;
            }
        }
    }
    fs::create_dir_all(&dir)?;
    for (name, fix, recs) in seeds()? {
        let bytes = encode(&recs, fix)?;
        fs::write(dir.join(name), &bytes)?;
        // What the dataplane makes of it: one worker, one pass.
        let mut w = worker();
        let mut now = Time::ZERO;
        let mut history = History::default();
        let verdicts: Vec<String> = records(&bytes)
            .iter()
            .map(|r| {
                advance(&mut w, &mut now, r.advance);
                let (v, out) = run(&mut w, now, r.port, &history.frame(&r.frame));
                history.record(v, &out);
                format!("{v:?}")
            })
            .collect();
        println!("{name:30} {:4} B  {}", bytes.len(), verdicts.join(", "));
    }
    Ok(())
}
