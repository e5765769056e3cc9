//! Fuzz target: arbitrary frames through `Worker::process` with NAT,
//! FullNAT, TUN and DR services configured, on either port. Any panic is a
//! bug. Its stable mirror is `dataplane/tests/sim_bad_input.rs`, which runs
//! the same path under proptest on every `cargo test`.
//!
//! Input (see `fuzz/src/lib.rs`): records separated by the 4 bytes
//! `\xfeRVS`, each a control byte then a frame, or a template of 1 to 13
//! bytes that the harness turns into a frame (a client's TCP or UDP to a
//! service, an answer to or an ICMP error about a frame the worker sent,
//! ARP: `fuzz/src/template.rs`). Control byte: bit 7 has the IPv4 header
//! and ICMP checksums fixed first; of the rest, `% 3` is the rx port (2
//! being one the snapshot does not have) and `/ 3` the seconds the clock
//! moves first, expiring conns. Without a separator: one frame, first byte
//! the port.
//!
//! The records go through two fresh workers, twice (so the second pass can
//! hit the conns the first created): one frame at a time through
//! `Worker::process`, and in runs of same-port frames through
//! `Worker::process_burst`, which must do exactly what single frames do.
//! After each run both workers drain what they want to send themselves.
//! Checked: same verdicts, same output bytes, same counters, every frame
//! accounted for, transmitted frames at least an Ethernet header.
//!
//! The workers' tables are small (64 conns, 16 neighbours, 4 FullNAT local
//! ports) so that a few frames fill them; the workers are built per input
//! so that a crash replays from its input alone.
//!
//! Run it on stable Rust (no cargo-fuzz, no nightly) from the repository
//! root with `scripts/fuzz.sh [SECONDS]`: it builds this crate with the
//! sanitizer-coverage flags cargo-fuzz would pass, runs libFuzzer for that
//! long from the seeds in `fuzz/corpus/packet` (new inputs go to a
//! temporary directory) and, on a crash, exits non-zero naming the input.
//! Replay one input with
//! `target/fuzz/x86_64-unknown-linux-gnu/release/packet CRASH_FILE`. The
//! seeds are written by
//! `cargo run --manifest-path fuzz/Cargo.toml --example gen_corpus`.
#![no_main]

use dataplane::frame::FrameBuf;
use dataplane::worker::WorkerStats;
use dataplane::{DropReason, PortId, Time, Verdict, Worker};
use libfuzzer_sys::fuzz_target;
use rvs_fuzz::{advance, records, worker, History};
use std::time::Duration;

/// Most frames a worker may want to send on its own after one run (ARP
/// requests and gratuitous ARP for the lab's few addresses), and most
/// parked packets it may release.
const MAX_OWN_TX: usize = 64;

/// A worker, its clock and what it answered.
struct Side {
    w: Worker,
    now: Time,
    out: Vec<(Verdict, Vec<u8>)>,
}

impl Side {
    fn new() -> Side {
        Side {
            w: worker(),
            now: Time::ZERO,
            out: Vec::new(),
        }
    }

    fn advance(&mut self, d: Duration) {
        advance(&mut self.w, &mut self.now, d);
    }

    fn single(&mut self, port: PortId, frame: &[u8]) {
        let mut fb = FrameBuf::with_default_room(frame);
        let v = fb.with_frame(|f| self.w.process(self.now, port, f));
        self.out.push((v, fb.data().to_vec()));
    }

    fn burst(&mut self, port: PortId, run: &[Vec<u8>]) {
        let mut bufs: Vec<FrameBuf> = run.iter().map(|f| FrameBuf::with_default_room(f)).collect();
        let mut frames: Vec<_> = bufs.iter_mut().map(FrameBuf::frame).collect();
        let mut verdicts = vec![Verdict::Drop(DropReason::Truncated); frames.len()];
        self.w
            .process_burst(self.now, port, &mut frames, &mut verdicts);
        for (f, v) in frames.iter().zip(verdicts) {
            self.out.push((v, f.data().to_vec()));
        }
    }

    /// Takes what the worker sends on its own and the packets it parked
    /// while resolving a next hop, as the DPDK shell would.
    fn drain(&mut self) -> Vec<(PortId, Vec<u8>)> {
        let mut sent = Vec::new();
        let mut buf = [0u8; 128];
        for _ in 0..MAX_OWN_TX {
            let Some((port, n)) = self.w.poll_transmit(self.now, &mut buf) else {
                break;
            };
            let Some(frame) = buf.get(..n) else {
                panic!("poll_transmit wrote {n} bytes into {}", buf.len());
            };
            sent.push((port, frame.to_vec()));
        }
        for _ in 0..MAX_OWN_TX {
            if self.w.poll_released().is_none() {
                break;
            }
        }
        sent
    }

    /// Every frame accounted for; nothing transmitted shorter than an
    /// Ethernet header.
    fn check(&self) {
        let s = self.w.stats();
        assert_eq!(
            s.tx_frames + s.redirected + s.to_kernel + s.drops.total(),
            s.rx_frames
        );
        assert_eq!(usize::try_from(s.rx_frames).ok(), Some(self.out.len()));
        for (v, frame) in &self.out {
            if let Verdict::Transmit { .. } = v {
                assert!(frame.len() >= 14, "transmitted {} bytes", frame.len());
            }
        }
    }
}

fn counters(s: &WorkerStats) -> impl PartialEq + std::fmt::Debug {
    (
        s.rx_frames,
        s.tx_frames,
        s.redirected,
        s.to_kernel,
        s.icmp_errors,
        s.drops,
        s.total,
    )
}

fuzz_target!(|data: &[u8]| {
    let recs = records(data);
    if recs.is_empty() {
        return;
    }
    let mut single = Side::new();
    let mut burst = Side::new();
    // What the single side transmitted, for the templates of later runs
    // (both sides transmit the same, or the run fails).
    let mut history = History::default();
    for _pass in 0..2 {
        let mut at = 0;
        while at < recs.len() {
            // A run: frames from one port at one time.
            let port = recs[at].port;
            let len = 1 + recs[at + 1..]
                .iter()
                .take_while(|r| r.port == port && r.advance.is_zero())
                .count();
            let run: Vec<Vec<u8>> = recs[at..at + len]
                .iter()
                .map(|r| history.frame(&r.frame))
                .collect();
            single.advance(recs[at].advance);
            burst.advance(recs[at].advance);
            let first = single.out.len();
            for f in &run {
                single.single(port, f);
            }
            burst.burst(port, &run);
            for (i, (a, b)) in single.out[first..]
                .iter()
                .zip(&burst.out[first..])
                .enumerate()
            {
                assert_eq!(a, b, "frame {}: single vs burst", first + i);
                history.record(a.0, &a.1);
            }
            assert_eq!(single.drain(), burst.drain(), "own transmissions");
            at += len;
        }
    }
    single.check();
    burst.check();
    assert_eq!(counters(single.w.stats()), counters(burst.w.stats()));
    assert_eq!(single.w.dest_stats(), burst.w.dest_stats());
    assert_eq!(single.w.conns().len(), burst.w.conns().len());
});
