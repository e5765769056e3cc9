//! The per-lcore poll loop: rx burst → dataplane → tx burst, on the queues
//! this worker owns, plus its software redirect ring. Frames the dataplane
//! does not send on are freed here (Burst and Mbuf free on drop), so nothing
//! leaks.

use crate::dpdk::{Burst, Mbuf, Mempool, QueueHandle, Ring, TscClock, MAX_BURST};
use arrayvec::ArrayVec;
use control::admin::{ConnEntry, ConnProtocol, NeighbourEntry};
use control::publish::Subscriber;
use dataplane::conn::Proto;
use dataplane::service::ServiceKey;
use dataplane::worker::{TrafficStats, WorkerConfig};
use dataplane::Frame;
use dataplane::{DropReason, PortId, Snapshot, Time, Verdict, Worker};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A listing the control core asks a worker for: the worker walks its own
/// table between two bursts and sends the rows back through the enclosed
/// channel (tables are single-writer, so the worker is the only one who can
/// read them).
#[derive(Debug)]
pub enum Listing {
    /// Its conns and templates (`rvsadm -L -c`).
    Conns(crossbeam_channel::Sender<Vec<ConnEntry>>),
    /// Its neighbour table (`rvsadm -L --neighbours`).
    Neighbours(crossbeam_channel::Sender<Vec<NeighbourEntry>>),
}

/// What travels on a worker's listing channel; the name predates the
/// neighbour listing and is what the daemon's setup creates the channels
/// with.
pub type ConnDump = Listing;

/// How often a worker copies its counters out for the control core.
const EXPORT_EVERY_NS: u64 = 500_000_000;

/// A worker's counters as the control core reads them: copied out by the
/// worker twice a second (never on the per-packet path), summed by the
/// control core into the per-service and per-dest stats.
#[derive(Debug, Clone, Default)]
pub struct Exported {
    /// Traffic per service id.
    pub services: Vec<(u32, TrafficStats)>,
    /// Traffic per dest counter slot.
    pub dests: Vec<TrafficStats>,
    /// Persistence templates per dest counter slot (a gauge, not a
    /// counter: `-Z` leaves it alone).
    pub templates: Vec<u32>,
    /// The shell's own counters.
    pub shell: ShellStats,
    /// Conns in this worker's table.
    pub conns: u32,
}

/// What a worker is given.
#[derive(Debug)]
pub struct WorkerSetup<'a> {
    /// Worker index (0-based).
    pub id: u16,
    /// The lcore it runs on.
    pub lcore: u32,
    /// The dataplane worker's sizes and seed.
    pub config: WorkerConfig,
    /// Where its counters go for the control core.
    pub export: &'a Mutex<Exported>,
    /// Conn listing requests from the control core.
    pub dumps: crossbeam_channel::Receiver<ConnDump>,
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
    /// One redirect ring per worker, by worker index: frames that belong to
    /// another worker's conns go into its ring (DESIGN.md, "Reply ownership").
    pub redirect: &'a [Ring],
    /// The exception path: for a port with a kernel twin, (port, the twin's
    /// queue for this worker).
    pub kernel: Vec<(PortId, QueueHandle)>,
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
    /// To-kernel verdicts for a port without a kernel twin (freed).
    pub no_twin: u64,
    /// Frames handed to the kernel through a twin.
    pub to_kernel: u64,
    /// Frames the kernel sent out through a twin.
    pub from_kernel: u64,
    /// Transmit verdicts naming a port this worker has no queue on.
    pub bad_port: u64,
    /// Frames handed to another worker's redirect ring.
    pub redirected_out: u64,
    /// Frames taken from this worker's redirect ring.
    pub redirected_in: u64,
    /// Redirects lost to a full ring (freed).
    pub redirect_full: u64,
    /// A redirected frame redirected again, or to a worker that does not
    /// exist (freed: ownership must be decided once).
    pub redirect_loop: u64,
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

/// A worker's loop state: the dataplane worker and the bursts in flight.
struct Loop<'a> {
    worker: Worker,
    shell: ShellStats,
    ports: Vec<PortId>,
    queues: Vec<QueueHandle>,
    tx: Vec<Burst>,
    redirect_out: Vec<Burst>,
    redirect: &'a [Ring],
    pool: &'a Mempool,
    kernel: Vec<(PortId, QueueHandle)>,
    kernel_tx: Vec<Burst>,
    burst: usize,
}

impl Loop<'_> {
    /// Runs one frame through the dataplane and queues it where the verdict
    /// says; `redirected` frames came from this worker's redirect ring.
    fn handle(&mut self, now: Time, port: PortId, mut m: Mbuf, redirected: bool) {
        let worker = &mut self.worker;
        let verdict = match m.with_frame(|f| worker.process(now, port, f)) {
            Ok(v) => v,
            Err(_) => {
                self.shell.multi_segment += 1;
                return;
            }
        };
        self.act(port, m, verdict, redirected);
    }

    /// Runs a whole rx burst from `port` through the dataplane at once (its
    /// conn lookups overlap their cache misses), then acts on each verdict.
    fn handle_burst(&mut self, now: Time, port: PortId, rx: &mut Burst) {
        let mut ms: ArrayVec<Mbuf, MAX_BURST> = ArrayVec::new();
        for m in rx.drain() {
            if m.segments() == 1 {
                ms.push(m);
            } else {
                self.shell.multi_segment += 1;
            }
        }
        let mut verdicts = [Verdict::Drop(DropReason::Truncated); MAX_BURST];
        let mut windows: ArrayVec<(usize, usize), MAX_BURST> = ArrayVec::new();
        let count = ms.len();
        let aligned = {
            let mut frames: ArrayVec<Frame<'_>, MAX_BURST> =
                ms.iter_mut().filter_map(Mbuf::frame).collect();
            // frames[i] must belong to ms[i]: a single-segment mbuf always
            // gives a frame unless its window lies outside its data room.
            let aligned = frames.len() == count;
            if aligned {
                self.worker
                    .process_burst(now, port, &mut frames, &mut verdicts[..count]);
                windows.extend(frames.iter().map(|f| (f.start(), f.len())));
            }
            aligned
        };
        if !aligned {
            for m in ms {
                self.handle(now, port, m, false);
            }
            return;
        }
        for ((mut m, (start, len)), verdict) in ms.into_iter().zip(windows).zip(verdicts) {
            m.set_window(start, len);
            self.act(port, m, verdict, false);
        }
    }

    /// Queues `m` where `verdict` says.
    fn act(&mut self, port: PortId, mut m: Mbuf, verdict: Verdict, redirected: bool) {
        match verdict {
            Verdict::Transmit { port } => {
                let Some(slot) = self.ports.iter().position(|p| *p == port) else {
                    self.shell.bad_port += 1;
                    return;
                };
                self.send(slot, m);
            }
            // ARP the dataplane learnt from (replies to our requests and
            // the like). Every worker keeps its own neighbour table and the
            // NIC hands the reply to one queue only, so the other workers
            // get a copy to learn from (ARP is rare and small). The kernel
            // twin gets it too: without it the kernel never resolves a
            // neighbour (health checks, SSH).
            Verdict::Drop(DropReason::ArpConsumed) => {
                if redirected {
                    return;
                }
                self.share_arp(port, &m);
                if let Some(slot) = self.kernel.iter().position(|(p, _)| *p == port) {
                    self.send_twin(slot, m);
                }
            }
            Verdict::Drop(_) => {}
            Verdict::Redirect { worker } => {
                let target = usize::from(worker);
                if redirected || target >= self.redirect_out.len() {
                    self.shell.redirect_loop += 1;
                    return;
                }
                m.set_port(port);
                self.send_worker(target, m);
            }
            Verdict::ToKernel { port } => {
                let Some(slot) = self.kernel.iter().position(|(p, _)| *p == port) else {
                    self.shell.no_twin += 1;
                    return;
                };
                self.send_twin(slot, m);
            }
        }
    }

    /// Queues `m` for the wire on port slot `slot`, sending the burst
    /// first when it is full.
    fn send(&mut self, slot: usize, m: Mbuf) {
        if self.tx[slot].len() >= self.burst {
            let sent = self.queues[slot].tx_burst(&mut self.tx[slot]);
            self.shell.tx += sent as u64;
        }
        if self.tx[slot].push(m).is_err() {
            self.shell.tx_full += 1;
        }
    }

    /// Queues `m` for the kernel twin number `slot`.
    fn send_twin(&mut self, slot: usize, m: Mbuf) {
        if self.kernel_tx[slot].len() >= self.burst {
            let sent = self.kernel[slot].1.tx_burst(&mut self.kernel_tx[slot]);
            self.shell.to_kernel += sent as u64;
        }
        if self.kernel_tx[slot].push(m).is_err() {
            self.shell.tx_full += 1;
        }
    }

    /// Queues `m` for worker `target`'s redirect ring.
    fn send_worker(&mut self, target: usize, m: Mbuf) {
        if self.redirect_out[target].is_full() {
            self.flush_redirect(target);
        }
        if self.redirect_out[target].push(m).is_err() {
            self.shell.redirect_full += 1;
        }
    }

    /// Copies an ARP frame this worker learnt from into every other
    /// worker's redirect ring.
    fn share_arp(&mut self, port: PortId, m: &Mbuf) {
        for target in 0..self.redirect_out.len() {
            if target == usize::from(self.worker.id()) {
                continue;
            }
            let Some(mut copy) = self.pool.alloc() else {
                self.shell.redirect_full += 1;
                continue;
            };
            let len = u16::try_from(m.len()).unwrap_or(u16::MAX);
            let Some(data) = copy.append(len) else {
                continue;
            };
            data.copy_from_slice(&m.data()[..usize::from(len)]);
            copy.set_port(port);
            self.send_worker(target, copy);
        }
    }

    fn flush_redirect(&mut self, target: usize) {
        let b = &mut self.redirect_out[target];
        let pending = b.len();
        if pending == 0 {
            return;
        }
        let done = self.redirect[target].enqueue(b);
        self.shell.redirected_out += done as u64;
        self.shell.redirect_full += (pending - done) as u64;
    }

    /// The kernel's own frames (SSH replies, ARP, routing protocols, health
    /// checks) go out of the twin's port untouched. Polled before the ports,
    /// so the kernel's control traffic is not starved by a flood on the wire.
    fn poll_kernel(&mut self, rx: &mut Burst) -> bool {
        let mut busy = false;
        for ki in 0..self.kernel.len() {
            let (port, twin) = self.kernel[ki];
            if twin.rx_burst(rx, self.burst) == 0 {
                continue;
            }
            busy = true;
            let Some(slot) = self.ports.iter().position(|p| *p == port) else {
                self.shell.bad_port += rx.len() as u64;
                rx.drain().for_each(drop);
                continue;
            };
            self.shell.from_kernel += rx.len() as u64;
            for m in rx.drain() {
                self.send(slot, m);
            }
        }
        busy
    }

    fn flush_tx(&mut self) {
        for ((_, twin), b) in self.kernel.iter().zip(self.kernel_tx.iter_mut()) {
            let pending = b.len();
            let sent = twin.tx_burst(b);
            self.shell.to_kernel += sent as u64;
            self.shell.tx_full += (pending - sent) as u64;
        }
        for (q, b) in self.queues.iter().zip(self.tx.iter_mut()) {
            let pending = b.len();
            let sent = q.tx_burst(b);
            self.shell.tx += sent as u64;
            self.shell.tx_full += (pending - sent) as u64;
        }
    }
}

/// Polls until `stop` is set, then returns its counters.
pub fn run(setup: WorkerSetup<'_>, stop: &AtomicBool) -> WorkerReport {
    let WorkerSetup {
        id,
        lcore,
        config,
        export,
        dumps,
        queues,
        snapshot,
        burst,
        idle_sleep,
        clock,
        updates,
        pool,
        redirect,
        kernel,
    } = setup;
    tracing::info!(worker = id, lcore, ports = queues.len(), "worker polling");
    let burst = usize::from(burst).min(crate::dpdk::MAX_BURST);
    let mut lp = Loop {
        worker: Worker::with_config(config, snapshot),
        shell: ShellStats::default(),
        ports: queues.iter().map(|q| q.port).collect(),
        tx: queues.iter().map(|_| Burst::new()).collect(),
        redirect_out: redirect.iter().map(|_| Burst::new()).collect(),
        queues,
        redirect,
        pool,
        kernel_tx: kernel.iter().map(|_| Burst::new()).collect(),
        kernel,
        burst,
    };
    let own_ring = redirect.get(usize::from(id));
    let mut rx = Burst::new();
    let mut next_export = 0u64;
    solicit_dests(&mut lp.worker, None, clock.now());

    while !stop.load(Ordering::Relaxed) {
        let now = clock.now();
        let mut idle = !lp.poll_kernel(&mut rx);
        for qi in 0..lp.queues.len() {
            let q = lp.queues[qi];
            let n = q.rx_burst(&mut rx, burst);
            if n == 0 {
                continue;
            }
            idle = false;
            lp.shell.rx += n as u64;
            lp.handle_burst(now, q.port, &mut rx);
        }
        for target in 0..lp.redirect_out.len() {
            lp.flush_redirect(target);
        }
        if let Some(ring) = own_ring {
            if ring.dequeue(&mut rx) > 0 {
                idle = false;
                lp.shell.redirected_in += rx.len() as u64;
                for m in rx.drain() {
                    let port = m.port();
                    lp.handle(now, port, m, true);
                }
            }
        }
        if lp.worker.poll_timeout().is_some_and(|t| t <= now) {
            originate(&mut lp, now);
        }
        // Bounded expiry work: conns, templates, scheduler state that ages.
        lp.worker.expire(now);
        if now.as_nanos() >= next_export {
            next_export = now.as_nanos() + EXPORT_EVERY_NS;
            // try_lock: a worker never waits for the control core.
            if let Ok(mut e) = export.try_lock() {
                e.services.clear();
                e.services.extend(lp.worker.service_stats());
                e.dests.clear();
                e.dests.extend_from_slice(lp.worker.dest_stats());
                e.templates.clear();
                e.templates
                    .extend_from_slice(lp.worker.templates().per_slot());
                e.shell = lp.shell.clone();
                e.conns = lp.worker.conns().len();
            }
        }
        lp.flush_tx();
        // Between bursts: answer a listing (admin path: it walks a table
        // once, so it is asked for, never done on a timer).
        match dumps.try_recv() {
            Ok(Listing::Conns(reply)) => {
                let _ = reply.send(conn_rows(&lp.worker, now));
            }
            Ok(Listing::Neighbours(reply)) => {
                let _ = reply.send(neighbour_rows(&lp.worker, now));
            }
            Err(_) => {}
        }
        // Between bursts: take the newest configuration, then say so.
        if let Some(next) = updates.poll() {
            let generation = next.generation;
            let previous = Arc::clone(lp.worker.snapshot());
            lp.worker.set_snapshot(next);
            updates.ack(generation);
            solicit_dests(&mut lp.worker, Some(&previous), now);
            lp.shell.snapshots += 1;
            tracing::debug!(worker = id, generation, "snapshot swapped in");
        }
        if idle && !idle_sleep.is_zero() {
            std::thread::sleep(idle_sleep);
        }
    }
    let report = WorkerReport {
        id,
        shell: lp.shell.clone(),
        dataplane: lp.worker.stats().clone(),
    };
    tracing::info!(worker = id, ?report.shell, "worker stopped");
    report
}

/// Starts resolving the next hop of every dest as soon as a snapshot names
/// it, so that the first packet of the first conn does not wait for ARP (a
/// SYN dropped while resolving costs the client a one-second retransmit).
/// Only services whose dests changed since `previous` (a new scheduler seed)
/// are walked, so a large table does not stall the worker on every swap.
fn solicit_dests(worker: &mut Worker, previous: Option<&Snapshot>, now: Time) {
    let snapshot = Arc::clone(worker.snapshot());
    let unchanged: std::collections::HashSet<*const dataplane::sched::SchedSeed> = previous
        .map(|p| {
            p.services
                .list()
                .iter()
                .map(|s| Arc::as_ptr(&s.seed))
                .collect()
        })
        .unwrap_or_default();
    for svc in snapshot.services.list() {
        if unchanged.contains(&Arc::as_ptr(&svc.seed)) {
            continue;
        }
        for dest in &svc.dests {
            let std::net::IpAddr::V4(rip) = dest.addr else {
                continue;
            };
            if let Some(hop) = snapshot.routes.lookup(rip) {
                let _ = worker.neigh_mut().lookup_or_solicit(now, hop.port, hop.via);
            }
        }
    }
}

/// This worker's conns as `ipvsadm -L -c` lists them, persistence
/// templates included the way IPVS makes them (`ip_vs_sched_persist`):
/// state NONE, client port 0, and
/// - a service with a port: its protocol, VIP:port, RIP:port;
/// - a port-0 service: its protocol, VIP:0, RIP:0;
/// - a firewall-mark service: protocol IP, the mark written as an IPv4
///   address (mark 7 is 0.0.0.7), port 0, RIP:0.
fn conn_rows(worker: &Worker, now: Time) -> Vec<ConnEntry> {
    let snapshot = worker.snapshot();
    let templates = worker
        .templates()
        .iter(now)
        .filter_map(|(key, slot, left)| {
            let svc = snapshot
                .services
                .list()
                .iter()
                .find(|s| s.id == key.service)?;
            let dest = svc.dests.iter().find(|d| d.slot == slot)?;
            let (protocol, vip, vport) = match svc.key {
                ServiceKey::Addr {
                    proto,
                    vaddr,
                    vport,
                } => (
                    if proto == Proto::Udp {
                        ConnProtocol::Udp
                    } else {
                        ConnProtocol::Tcp
                    },
                    vaddr,
                    vport,
                ),
                ServiceKey::Mark(mark) => (ConnProtocol::Ip, Ipv4Addr::from(mark).into(), 0),
            };
            Some(ConnEntry {
                protocol,
                expires: u32::try_from(left.as_secs()).unwrap_or(u32::MAX),
                state: "NONE".to_owned(),
                cip: key.cnet.into(),
                cport: 0,
                vip,
                vport,
                rip: dest.addr,
                rport: if vport == 0 { 0 } else { dest.port },
            })
        });
    let conns = worker.conns().iter().filter_map(|(_, c)| {
        let protocol = match c.proto() {
            Proto::Tcp => ConnProtocol::Tcp,
            Proto::Udp => ConnProtocol::Udp,
            Proto::Icmp => return None,
        };
        let ((cip, cport), (vip, vport), (rip, rport)) = (c.client(), c.virt(), c.real());
        Some(ConnEntry {
            protocol,
            expires: u32::try_from(c.expires().saturating_since(now).as_secs()).unwrap_or(u32::MAX),
            state: c.state().name().to_owned(),
            cip: cip.into(),
            cport,
            vip: vip.into(),
            vport,
            rip: rip.into(),
            rport,
        })
    });
    conns.chain(templates).collect()
}

/// This worker's neighbour table as `rvsadm -L --neighbours` rows; the
/// control core merges the workers' rows.
fn neighbour_rows(worker: &Worker, now: Time) -> Vec<NeighbourEntry> {
    let interfaces = &worker.snapshot().interfaces;
    worker
        .neigh()
        .entries()
        .map(|n| NeighbourEntry {
            ip: n.ip,
            mac: n.mac.map(|m| m.0),
            interface: interfaces
                .iter()
                .find(|i| i.port == n.port)
                .map_or_else(|| format!("port{}", n.port), |i| i.name.clone()),
            state: n.nud.to_owned(),
            age_secs: u32::try_from(now.saturating_since(n.updated).as_secs()).unwrap_or(u32::MAX),
        })
        .collect()
}

/// Sends the frames the dataplane itself wants out (ARP requests for next
/// hops, gratuitous ARP), each written straight into a fresh mbuf.
fn originate(lp: &mut Loop<'_>, now: Time) {
    // A bounded number per loop, so a flood of due requests cannot starve rx.
    for _ in 0..crate::dpdk::MAX_BURST {
        let Some(mut m) = lp.pool.alloc() else {
            lp.shell.no_mbuf += 1;
            return;
        };
        let worker = &mut lp.worker;
        let out = m.with_frame(|f| {
            let room = f.tailroom().min(1518);
            f.set_len(room).ok()?;
            let (port, len) = worker.poll_transmit(now, f.data_mut())?;
            f.set_len(len).ok()?;
            Some(port)
        });
        let Ok(Some(port)) = out else { return };
        match lp.ports.iter().position(|p| *p == port) {
            Some(slot) => {
                lp.shell.originated += 1;
                lp.send(slot, m);
            }
            None => lp.shell.bad_port += 1,
        }
    }
}
