//! Fuzz target: arbitrary bytes through `Worker::process` with NAT,
//! FullNAT, TUN and DR services configured, on either port, twice (so the
//! second run can hit the conn the first created). Any panic is a bug.
//! Its stable mirror is `dataplane/tests/sim_bad_input.rs`, which runs the
//! same path under proptest on every `cargo test`.
//!
//! Run with `cargo +nightly fuzz run packet` from the repository root.
#![no_main]

use dataplane::conn::{Fwd, Proto};
use dataplane::frame::FrameBuf;
use dataplane::sim::lab::{self, Svc};
use dataplane::stack::neigh::Learn;
use dataplane::{Time, Worker};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let Some((&port, bytes)) = data.split_first() else {
        return;
    };
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
            Learn::Request,
        );
    }
    for _ in 0..2 {
        let mut fb = FrameBuf::with_default_room(bytes);
        let _ = fb.with_frame(|f| w.process(Time::ZERO, u16::from(port % 3), f));
    }
    let s = w.stats();
    assert_eq!(
        s.tx_frames + s.redirected + s.to_kernel + s.drops.total(),
        s.rx_frames
    );
});
