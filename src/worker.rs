//! The per-lcore poll loop: rx burst → dataplane → tx burst, on the queues
//! this worker owns. Frames the dataplane does not send on are freed here
//! (Burst and Mbuf free on drop), so nothing leaks.

use crate::dpdk::{Burst, Mempool, QueueHandle, TscClock};
use control::publish::Subscriber;
use dataplane::{PortId, Snapshot, Time, Verdict, Worker};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a worker is given.
#[derive(Debug)]
pub struct WorkerSetup<'a> {
    /// Worker index (0-based).
    pub id: u16,
    /// The lcore it runs on.
    pub lcore: u32,
    /// One queue on each port, in port order.
    pub queues: Vec<QueueHandle>,
    /// The configuration it starts with.
    pub snapshot: Arc<Snapshot>,
    /// Packets per rx burst.
    pub burst: u16,
    /// Sleep after an idle round (0 = pure poll mode).
    pub idle_sleep: Duration,
    /// Timestamp source.
    pub clock: TscClock,
    /// Where new snapshots arrive from the control core.
    pub updates: Subscriber,
    /// Buffers for frames the worker originates (ARP requests, gratuitous ARP).
    pub pool: &'a Mempool,
}

/// Counters the shell keeps itself, beside the dataplane's.
#[derive(Debug, Clone, Default)]
pub struct ShellStats {
    /// Frames received from the NIC.
    pub rx: u64,
    /// Frames the NIC accepted for sending.
    pub tx: u64,
    /// Frames the NIC refused on a full tx ring (freed).
    pub tx_full: u64,
    /// Chained (multi-segment) mbufs the dataplane cannot handle (freed).
    pub multi_segment: u64,
    /// Verdicts this build does not carry out yet (redirect, to kernel).
    pub unhandled: u64,
    /// Transmit verdicts naming a port this worker has no queue on.
    pub bad_port: u64,
    /// Frames the worker originated (ARP requests, gratuitous ARP).
    pub originated: u64,
    /// Originated frames lost for lack of an mbuf.
    pub no_mbuf: u64,
    /// Snapshots swapped in.
    pub snapshots: u64,
}

/// What a worker reports when it stops.
#[derive(Debug, Clone)]
pub struct WorkerReport {
    /// Worker index.
    pub id: u16,
    /// Shell counters.
    pub shell: ShellStats,
    /// The dataplane's counters.
    pub dataplane: dataplane::worker::WorkerStats,
}

/// Polls until `stop` is set, then returns its counters.
pub fn run(setup: WorkerSetup<'_>, stop: &AtomicBool) -> WorkerReport {
    let WorkerSetup {
        id,
        lcore,
        queues,
        snapshot,
        burst,
        idle_sleep,
        clock,
        updates,
        pool,
    } = setup;
    tracing::info!(worker = id, lcore, ports = queues.len(), "worker polling");
    let mut worker = Worker::new(id, snapshot);
    let mut shell = ShellStats::default();
    let mut tx: Vec<Burst> = queues.iter().map(|_| Burst::new()).collect();
    let ports: Vec<PortId> = queues.iter().map(|q| q.port).collect();
    let mut rx = Burst::new();
    let burst = usize::from(burst).min(crate::dpdk::MAX_BURST);

    while !stop.load(Ordering::Relaxed) {
        let now = clock.now();
        let mut idle = true;
        for q in &queues {
            let n = q.rx_burst(&mut rx, burst);
            if n == 0 {
                continue;
            }
            idle = false;
            shell.rx += n as u64;
            for mut m in rx.drain() {
                let verdict = match m.with_frame(|f| worker.process(now, q.port, f)) {
                    Ok(v) => v,
                    Err(_) => {
                        shell.multi_segment += 1;
                        continue;
                    }
                };
                match verdict {
                    Verdict::Transmit { port } => {
                        let Some(slot) = ports.iter().position(|p| *p == port) else {
                            shell.bad_port += 1;
                            continue;
                        };
                        if tx[slot].len() >= burst {
                            let sent = queues[slot].tx_burst(&mut tx[slot]);
                            shell.tx += sent as u64;
                        }
                        if let Err(m) = tx[slot].push(m) {
                            drop(m);
                            shell.tx_full += 1;
                        }
                    }
                    Verdict::Drop(_) => {}
                    Verdict::Redirect { .. } | Verdict::ToKernel { .. } => shell.unhandled += 1,
                }
            }
        }
        if worker.poll_timeout().is_some_and(|t| t <= now) {
            originate(&mut worker, now, pool, &ports, &mut tx, &mut shell);
        }
        for (q, b) in queues.iter().zip(tx.iter_mut()) {
            let pending = b.len();
            let sent = q.tx_burst(b);
            shell.tx += sent as u64;
            shell.tx_full += (pending - sent) as u64;
        }
        // Between bursts: take the newest configuration, then say so.
        if let Some(next) = updates.poll() {
            let generation = next.generation;
            worker.set_snapshot(next);
            updates.ack(generation);
            shell.snapshots += 1;
            tracing::debug!(worker = id, generation, "snapshot swapped in");
        }
        if idle && !idle_sleep.is_zero() {
            std::thread::sleep(idle_sleep);
        }
    }
    let report = WorkerReport {
        id,
        shell,
        dataplane: worker.stats().clone(),
    };
    tracing::info!(worker = id, ?report.shell, "worker stopped");
    report
}

/// Sends the frames the dataplane itself wants out (ARP requests for next
/// hops, gratuitous ARP), each written straight into a fresh mbuf.
fn originate(
    worker: &mut Worker,
    now: Time,
    pool: &Mempool,
    ports: &[PortId],
    tx: &mut [Burst],
    shell: &mut ShellStats,
) {
    // A bounded number per loop, so a flood of due requests cannot starve rx.
    for _ in 0..crate::dpdk::MAX_BURST {
        let Some(mut m) = pool.alloc() else {
            shell.no_mbuf += 1;
            return;
        };
        let out = m.with_frame(|f| {
            let room = f.tailroom().min(1518);
            f.set_len(room).ok()?;
            let (port, len) = worker.poll_transmit(now, f.data_mut())?;
            f.set_len(len).ok()?;
            Some(port)
        });
        let Ok(Some(port)) = out else { return };
        match ports.iter().position(|p| *p == port) {
            Some(slot) => {
                shell.originated += 1;
                if tx[slot].push(m).is_err() {
                    shell.tx_full += 1;
                }
            }
            None => shell.bad_port += 1,
        }
    }
}
