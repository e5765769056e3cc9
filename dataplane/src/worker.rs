//! A worker: the per-core entry point of the dataplane. It owns its tables and
//! counters and is touched by exactly one thread.

use crate::frame::Frame;
use crate::snapshot::Snapshot;
use crate::time::Time;
use crate::verdict::{DropCounters, DropReason, PortId, Verdict};
use std::sync::Arc;

/// Per-worker counters (single writer).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats {
    /// Frames handed to [`Worker::process`].
    pub rx_frames: u64,
    /// Frames answered with [`Verdict::Transmit`].
    pub tx_frames: u64,
    /// Drops by reason.
    pub drops: DropCounters,
}

/// One worker's dataplane state.
#[derive(Debug)]
pub struct Worker {
    id: u16,
    snapshot: Arc<Snapshot>,
    stats: WorkerStats,
}

impl Worker {
    /// Worker number `id` running `snapshot`.
    pub fn new(id: u16, snapshot: Arc<Snapshot>) -> Self {
        Worker { id, snapshot, stats: WorkerStats::default() }
    }

    /// This worker's index.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The snapshot in force.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// Swaps in a new snapshot (between bursts).
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = snapshot;
    }

    /// Counters so far.
    pub fn stats(&self) -> &WorkerStats {
        &self.stats
    }

    /// Processes one frame received on `rx_port` at `now`, rewriting it in
    /// place, and says what to do with it.
    pub fn process(&mut self, now: Time, rx_port: PortId, frame: &mut Frame<'_>) -> Verdict {
        let _ = (now, frame);
        self.stats.rx_frames += 1;
        let verdict = match self.snapshot.interface(rx_port) {
            None => Verdict::Drop(DropReason::UnknownPort),
            Some(_) => Verdict::Drop(DropReason::NotForUs),
        };
        match verdict {
            Verdict::Transmit { .. } => self.stats.tx_frames += 1,
            Verdict::Drop(reason) => self.stats.drops.count(reason),
            _ => {}
        }
        verdict
    }
}
