//! Round trips of every message through the frame codec, and the codec's
//! refusals of bad frames.

use super::*;
use proptest::prelude::*;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn tcp80() -> ServiceKey {
    ServiceKey::Addr {
        protocol: Protocol::Tcp,
        vip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        port: 80,
    }
}

fn spec() -> ServiceSpec {
    ServiceSpec {
        key: tcp80(),
        scheduler: "rr".into(),
        persistent: Some(360),
        netmask: PersistMask::V4(Ipv4Addr::new(255, 255, 255, 0)),
        one_packet: false,
        sched_flags: SchedFlags {
            flag1: true,
            flag2: false,
            flag3: true,
        },
    }
}

fn dest() -> DestSpec {
    DestSpec {
        rip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        port: 8080,
        fwd: FwdMethod::FullNat,
        weight: 65535,
        u_threshold: 10,
        l_threshold: 5,
    }
}

fn all_requests() -> Vec<Request> {
    vec![
        Request::AddService(spec()),
        Request::EditService(ServiceSpec {
            key: ServiceKey::Fwmark {
                mark: 7,
                ipv6: true,
            },
            netmask: PersistMask::V6(64),
            ..spec()
        }),
        Request::DelService(tcp80()),
        Request::Clear,
        Request::AddDest {
            service: tcp80(),
            dest: dest(),
        },
        Request::EditDest {
            service: tcp80(),
            dest: DestSpec {
                rip: IpAddr::V6(Ipv6Addr::LOCALHOST),
                ..dest()
            },
        },
        Request::DelDest {
            service: tcp80(),
            rip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 80,
        },
        Request::ListServices { service: None },
        Request::ListServices {
            service: Some(tcp80()),
        },
        Request::ListConns,
        Request::Zero { service: None },
        Request::SetTimeouts(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }),
        Request::GetTimeouts,
        Request::ListInterfaces,
        Request::ListRoutes,
        Request::ListNeighbours,
        Request::ListLocalAddrs,
        Request::HealthStatus,
    ]
}

fn all_responses() -> Vec<Response> {
    let stats = Stats {
        conns: u64::MAX,
        inpkts: 1,
        outpkts: 2,
        inbytes: 3,
        outbytes: 4,
    };
    let rates = Rates {
        cps: 5,
        inpps: 6,
        outpps: 7,
        inbps: 8,
        outbps: 9,
    };
    vec![
        Response::Done,
        Response::Services {
            conn_table_size: 4096,
            services: vec![Service {
                spec: spec(),
                stats,
                rates,
                dests: vec![Dest {
                    spec: dest(),
                    active_conns: 1,
                    inact_conns: 2,
                    persist_conns: 3,
                    stats,
                    rates,
                }],
            }],
        },
        Response::Conns(vec![
            ConnEntry {
                protocol: ConnProtocol::Udp,
                expires: 299,
                state: "UDP".into(),
                cip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                cport: 40000,
                vip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
                vport: 53,
                rip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                rport: 53,
            },
            ConnEntry {
                protocol: ConnProtocol::Ip,
                expires: 359,
                state: "NONE".into(),
                cip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                cport: 0,
                vip: IpAddr::V4(Ipv4Addr::new(0, 0, 0, 7)),
                vport: 0,
                rip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
                rport: 0,
            },
        ]),
        Response::Timeouts(Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        }),
        Response::Interfaces(vec![InterfaceEntry {
            name: "wan0".into(),
            port: 0,
            mac: [2, 0, 0, 0, 0, 1],
            mtu: 1500,
            link_up: true,
            addrs: vec![(Ipv4Addr::new(10, 0, 0, 1), 24)],
            rx_packets: 1,
            tx_packets: 2,
            dropped: 3,
        }]),
        Response::Routes(vec![RouteEntry {
            prefix: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: Some(Ipv4Addr::new(10, 0, 0, 254)),
            interface: "wan0".into(),
        }]),
        Response::Neighbours(vec![NeighbourEntry {
            ip: Ipv4Addr::new(10, 0, 0, 254),
            mac: None,
            interface: "wan0".into(),
            state: "INCOMPLETE".into(),
            age_secs: 2,
        }]),
        Response::LocalAddrs(vec![LocalAddrEntry {
            service: tcp80(),
            lip: Ipv4Addr::new(10, 1, 0, 1),
            ports_in_use: 12,
        }]),
        Response::Health(vec![HealthEntry {
            service: tcp80(),
            rip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
            port: 80,
            checker: "tcp".into(),
            state: HealthState::Down,
            streak: 3,
            detail: "connection refused".into(),
        }]),
        Response::Error(AdminError::ServiceNotDefined),
        Response::Error(AdminError::VersionMismatch {
            client: 1,
            server: 2,
        }),
        Response::Error(AdminError::Invalid("weird \"quoted\" text".into())),
    ]
}

#[test]
fn every_request_round_trips_through_a_frame() {
    for req in all_requests() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &RequestEnvelope::new(req.clone())).unwrap();
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
        assert_eq!(usize::try_from(len).unwrap(), buf.len() - 4);
        let back: RequestEnvelope = read_frame(&mut Cursor::new(buf)).unwrap();
        assert_eq!(back.version, PROTOCOL_VERSION);
        assert_eq!(back.request, req);
    }
}

#[test]
fn every_response_round_trips_through_a_frame() {
    for resp in all_responses() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &ResponseEnvelope::new(resp.clone())).unwrap();
        let back: ResponseEnvelope = read_frame(&mut Cursor::new(buf)).unwrap();
        assert_eq!(back.into_checked().unwrap(), resp);
    }
}

#[test]
fn frames_follow_each_other_on_one_stream() {
    let mut buf = Vec::new();
    for req in all_requests() {
        write_frame(&mut buf, &RequestEnvelope::new(req)).unwrap();
    }
    let mut cur = Cursor::new(buf);
    for req in all_requests() {
        let back: RequestEnvelope = read_frame(&mut cur).unwrap();
        assert_eq!(back.request, req);
    }
    assert!(matches!(
        read_frame::<_, RequestEnvelope>(&mut cur),
        Err(FrameError::Closed)
    ));
}

#[test]
fn version_mismatch_is_reported() {
    let env = ResponseEnvelope {
        version: PROTOCOL_VERSION + 1,
        response: Response::Done,
    };
    let err = env.into_checked().unwrap_err();
    assert_eq!(
        err,
        AdminError::VersionMismatch {
            client: PROTOCOL_VERSION,
            server: PROTOCOL_VERSION + 1
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "admin protocol version mismatch: rvsadm speaks {}, rvsd speaks {}",
            PROTOCOL_VERSION,
            PROTOCOL_VERSION + 1
        )
    );
}

#[test]
fn ipvsadm_error_wording() {
    assert_eq!(
        AdminError::ServiceExists.to_string(),
        "Service already exists"
    );
    assert_eq!(
        AdminError::SchedulerNotFound.to_string(),
        "Scheduler or persistence engine not found"
    );
    assert_eq!(AdminError::NoSuchService.to_string(), "No such service");
    assert_eq!(
        AdminError::ServiceNotDefined.to_string(),
        "Service not defined"
    );
    assert_eq!(
        AdminError::DestExists.to_string(),
        "Destination already exists"
    );
    assert_eq!(AdminError::NoSuchDest.to_string(), "No such destination");
}

#[test]
fn oversized_frame_is_refused_before_reading_it() {
    let mut buf = (MAX_FRAME_LEN + 1).to_be_bytes().to_vec();
    buf.extend_from_slice(b"()");
    match read_frame::<_, RequestEnvelope>(&mut Cursor::new(buf)) {
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!(len, u64::from(MAX_FRAME_LEN) + 1);
            assert_eq!(max, MAX_FRAME_LEN);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let buf = u32::MAX.to_be_bytes().to_vec();
    assert!(matches!(
        read_frame::<_, RequestEnvelope>(&mut Cursor::new(buf)),
        Err(FrameError::TooLarge { .. })
    ));
}

#[test]
fn truncated_frames_are_refused() {
    let mut full = Vec::new();
    write_frame(&mut full, &RequestEnvelope::new(Request::Clear)).unwrap();
    for cut in 1..full.len() {
        let res = read_frame::<_, RequestEnvelope>(&mut Cursor::new(full[..cut].to_vec()));
        assert!(
            matches!(res, Err(FrameError::Truncated)),
            "cut at {cut}: {res:?}"
        );
    }
    assert!(matches!(
        read_frame::<_, RequestEnvelope>(&mut Cursor::new(Vec::new())),
        Err(FrameError::Closed)
    ));
}

#[test]
fn malformed_payloads_are_refused() {
    let frame = |payload: &[u8]| {
        let mut v = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    };
    assert!(matches!(
        read_frame::<_, RequestEnvelope>(&mut Cursor::new(frame(&[0xff, 0xfe, 0x00]))),
        Err(FrameError::NotUtf8)
    ));
    for bad in [
        &b""[..],
        b"(",
        b"(version: 1)",
        b"(version: 1, request: Explode)",
        b"(version: -1, request: Clear)",
        b"(version: 1, request: AddService(()))",
    ] {
        let res = read_frame::<_, RequestEnvelope>(&mut Cursor::new(frame(bad)));
        assert!(
            matches!(res, Err(FrameError::Malformed(_))),
            "{bad:?}: {res:?}"
        );
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = read_frame::<_, RequestEnvelope>(&mut Cursor::new(bytes.clone()));
        let _ = read_frame::<_, ResponseEnvelope>(&mut Cursor::new(bytes));
    }

    #[test]
    fn arbitrary_payload_behind_a_valid_length_never_panics(
        payload in proptest::collection::vec(any::<u8>(), 0..256)
    ) {
        let mut v = u32::try_from(payload.len()).unwrap().to_be_bytes().to_vec();
        v.extend_from_slice(&payload);
        let res = read_frame::<_, RequestEnvelope>(&mut Cursor::new(v));
        prop_assert!(res.is_err() || !payload.is_empty());
    }

    #[test]
    fn timeouts_and_dests_round_trip(
        tcp in any::<u32>(), fin in any::<u32>(), udp in any::<u32>(),
        rip in any::<u32>(), port in any::<u16>(), weight in 0u32..=65535,
    ) {
        let reqs = vec![
            Request::SetTimeouts(Timeouts { tcp, tcp_fin: fin, udp }),
            Request::AddDest {
                service: tcp80(),
                dest: DestSpec { rip: IpAddr::V4(Ipv4Addr::from(rip)), port, weight, ..dest() },
            },
        ];
        for req in reqs {
            let mut buf = Vec::new();
            write_frame(&mut buf, &RequestEnvelope::new(req.clone())).unwrap();
            let back: RequestEnvelope = read_frame(&mut Cursor::new(buf)).unwrap();
            prop_assert_eq!(back.request, req);
        }
    }
}

#[test]
fn a_neighbour_row_from_before_the_age_column_still_reads() {
    let row = NeighbourEntry {
        ip: Ipv4Addr::new(10, 0, 0, 254),
        mac: Some([2, 0, 0, 0, 0, 9]),
        interface: "wan0".into(),
        state: "STALE".into(),
        age_secs: 7,
    };
    let text = ron::to_string(&row).unwrap();
    assert!(text.contains(",age_secs:7"), "{text}");
    let old: NeighbourEntry = ron::from_str(&text.replace(",age_secs:7", "")).unwrap();
    assert_eq!(old, NeighbourEntry { age_secs: 0, ..row });
}
