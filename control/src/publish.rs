//! Handing configuration snapshots to the workers (DESIGN.md, "Configuration
//! is data").
//!
//! One bounded channel per worker carries `Arc<Snapshot>`s. A worker polls its
//! channel between bursts, swaps in the newest snapshot and acknowledges its
//! generation; snapshots are complete, so a worker that finds several queued
//! takes the newest. [`Publisher::publish`] returns once every worker runs the
//! new generation. When that takes too long the caller gets an error, and the
//! update is not lost: a full channel makes the publisher wait, and a snapshot
//! it could not hand over in time stays pending and goes out with the next
//! [`Publisher::publish`] or [`Publisher::retry_pending`].

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender, TryRecvError};
use dataplane::Snapshot;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a publication did not complete in time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// A worker's channel stayed full; the snapshot is pending for it.
    #[error("worker {worker} did not take generation {generation} in time (its update ring is full); it stays queued")]
    RingFull {
        /// The worker.
        worker: usize,
        /// The generation it has not received.
        generation: u64,
    },
    /// A worker received the snapshot but has not acknowledged it yet.
    #[error("worker {worker} has not switched to generation {generation} yet (it runs {running})")]
    NotAcknowledged {
        /// The worker.
        worker: usize,
        /// The generation published.
        generation: u64,
        /// The generation it acknowledged last.
        running: u64,
    },
    /// A worker is gone (its end of the channel was dropped).
    #[error("worker {0} has stopped")]
    WorkerGone(usize),
}

/// The control core's end.
#[derive(Debug)]
pub struct Publisher {
    txs: Vec<Sender<Arc<Snapshot>>>,
    acks: Arc<[AtomicU64]>,
    pending: Vec<Option<Arc<Snapshot>>>,
    current: Arc<Snapshot>,
}

/// A worker's end.
#[derive(Debug)]
pub struct Subscriber {
    rx: Receiver<Arc<Snapshot>>,
    acks: Arc<[AtomicU64]>,
    index: usize,
}

/// A publisher and one subscriber per worker, each channel holding up to
/// `depth` snapshots; every worker starts on `initial` (acknowledged).
pub fn channel(
    workers: usize,
    depth: usize,
    initial: Arc<Snapshot>,
) -> (Publisher, Vec<Subscriber>) {
    let acks: Arc<[AtomicU64]> = (0..workers)
        .map(|_| AtomicU64::new(initial.generation))
        .collect();
    let (txs, subs) = (0..workers)
        .map(|index| {
            let (tx, rx) = bounded(depth.max(1));
            (
                tx,
                Subscriber {
                    rx,
                    acks: Arc::clone(&acks),
                    index,
                },
            )
        })
        .unzip();
    let publisher = Publisher {
        txs,
        acks,
        pending: vec![None; workers],
        current: initial,
    };
    (publisher, subs)
}

impl Publisher {
    /// The snapshot most recently published.
    pub fn current(&self) -> &Arc<Snapshot> {
        &self.current
    }

    /// The generation worker `worker` runs.
    pub fn running(&self, worker: usize) -> Option<u64> {
        self.acks.get(worker).map(|a| a.load(Ordering::Acquire))
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.txs.len()
    }

    /// Hands `snapshot` to every worker and waits (at most `timeout` in all)
    /// until each acknowledges its generation.
    pub fn publish(
        &mut self,
        snapshot: Arc<Snapshot>,
        timeout: Duration,
    ) -> Result<(), PublishError> {
        let deadline = Instant::now() + timeout;
        self.current = Arc::clone(&snapshot);
        for p in &mut self.pending {
            *p = Some(Arc::clone(&snapshot));
        }
        self.deliver(deadline)?;
        self.wait_acks(snapshot.generation, deadline)
    }

    /// Tries again to hand over snapshots that found a full channel.
    pub fn retry_pending(&mut self, timeout: Duration) -> Result<(), PublishError> {
        self.deliver(Instant::now() + timeout)
    }

    fn deliver(&mut self, deadline: Instant) -> Result<(), PublishError> {
        for (worker, (tx, slot)) in self.txs.iter().zip(self.pending.iter_mut()).enumerate() {
            let Some(snap) = slot.take() else { continue };
            let left = deadline.saturating_duration_since(Instant::now());
            match tx.send_timeout(Arc::clone(&snap), left) {
                Ok(()) => {}
                Err(SendTimeoutError::Timeout(_)) => {
                    let generation = snap.generation;
                    *slot = Some(snap);
                    return Err(PublishError::RingFull { worker, generation });
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    return Err(PublishError::WorkerGone(worker))
                }
            }
        }
        Ok(())
    }

    fn wait_acks(&self, generation: u64, deadline: Instant) -> Result<(), PublishError> {
        let mut spin = 0u32;
        loop {
            let lagging = self
                .acks
                .iter()
                .enumerate()
                .find(|(_, a)| a.load(Ordering::Acquire) < generation);
            let Some((worker, ack)) = lagging else {
                return Ok(());
            };
            if Instant::now() >= deadline {
                return Err(PublishError::NotAcknowledged {
                    worker,
                    generation,
                    running: ack.load(Ordering::Acquire),
                });
            }
            // Workers swap between bursts (microseconds): spin briefly, then yield.
            spin += 1;
            if spin < 1000 {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }
}

impl Subscriber {
    /// The newest snapshot waiting, if any (older queued ones are skipped:
    /// every snapshot is complete). Non-blocking; call between bursts.
    pub fn poll(&self) -> Option<Arc<Snapshot>> {
        let mut newest = None;
        loop {
            match self.rx.try_recv() {
                Ok(s) => newest = Some(s),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return newest,
            }
        }
    }

    /// Tells the control core this worker now runs `generation`.
    pub fn ack(&self, generation: u64) {
        if let Some(a) = self.acks.get(self.index) {
            a.store(generation, Ordering::Release);
        }
    }

    /// This subscriber's worker index.
    pub fn index(&self) -> usize {
        self.index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn snap(generation: u64) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            generation,
            ..Snapshot::default()
        })
    }

    #[test]
    fn every_worker_switches_before_publish_returns() {
        let (mut publisher, subs) = channel(2, 4, snap(1));
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Vec<_> = subs
            .into_iter()
            .map(|sub| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut running = 1;
                    let mut generations = vec![];
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(s) = sub.poll() {
                            running = s.generation;
                            generations.push(running);
                            sub.ack(running);
                        }
                        std::thread::yield_now();
                    }
                    (running, generations)
                })
            })
            .collect();
        for g in 2..=50 {
            publisher.publish(snap(g), Duration::from_secs(10)).unwrap();
            assert_eq!(publisher.running(0), Some(g));
            assert_eq!(publisher.running(1), Some(g));
        }
        stop.store(true, Ordering::Relaxed);
        for h in seen {
            let (running, generations) = h.join().unwrap();
            assert_eq!(running, 50);
            assert!(
                generations.windows(2).all(|w| w[0] < w[1]),
                "generations only go up"
            );
        }
    }

    #[test]
    fn a_stalled_worker_gets_an_error_not_a_lost_update() {
        let (mut publisher, subs) = channel(1, 1, snap(1));
        // Nobody polls: the first snapshot fills the channel, nobody acks.
        let e = publisher
            .publish(snap(2), Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(
            e,
            PublishError::NotAcknowledged {
                worker: 0,
                generation: 2,
                running: 1
            }
        );
        // The second finds the channel full and stays pending.
        let e = publisher
            .publish(snap(3), Duration::from_millis(20))
            .unwrap_err();
        assert_eq!(
            e,
            PublishError::RingFull {
                worker: 0,
                generation: 3
            }
        );
        // The worker wakes up: it takes generation 2, then the pending 3 arrives.
        let got = subs[0].poll().unwrap();
        assert_eq!(got.generation, 2);
        subs[0].ack(2);
        publisher.retry_pending(Duration::from_millis(100)).unwrap();
        let got = subs[0].poll().unwrap();
        assert_eq!(got.generation, 3);
        subs[0].ack(3);
        assert_eq!(publisher.running(0), Some(3));
        assert_eq!(publisher.current().generation, 3);
    }

    #[test]
    fn a_gone_worker_is_reported() {
        let (mut publisher, subs) = channel(1, 1, snap(1));
        drop(subs);
        assert_eq!(
            publisher
                .publish(snap(2), Duration::from_millis(10))
                .unwrap_err(),
            PublishError::WorkerGone(0)
        );
    }
}
