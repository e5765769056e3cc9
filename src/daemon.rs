//! The control core's loop (main lcore): serves the admin socket, applies
//! changes to the service table, publishes each new snapshot to the workers
//! before answering, re-reads the config on SIGHUP and ticks the rate
//! estimators.

use crate::dpdk::Port;
use crate::worker::{ConnDump, Exported, Listing};
use control::admin::Stats;
use control::admin::{
    AdminError, ConnEntry, HealthEntry, InterfaceEntry, NeighbourEntry, Response, RouteEntry,
};
use control::config::Config;
use control::handler::{self, DaemonView};
use control::health::apply;
use control::health::engine::Engine;
use control::health::plan::Plan;
use control::publish::Publisher;
use control::reload::{self, ServicePart};
use control::server::AdminServer;
use control::state::{BaseParts, State};
use control::stats::CounterSample;
use control::stats::StatsTable;
use dataplane::worker::TrafficStats;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an admin change may take to reach every worker.
pub const PUBLISH_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a worker may take to list its conns or neighbours.
const LIST_TIMEOUT: Duration = Duration::from_secs(5);

/// Rate estimator period (IPVS: 2 s).
const TICK: Duration = Duration::from_secs(2);

/// What the control loop owns.
pub struct ControlCore<'a> {
    /// The source of truth.
    pub state: State,
    /// Counters and rates.
    pub stats: StatsTable,
    /// Hands snapshots to the workers.
    pub publisher: Publisher,
    /// The daemon's own parts of every snapshot.
    pub base: BaseParts,
    /// The services part of the config in force (for SIGHUP diffs).
    pub part: ServicePart,
    /// Where the config came from.
    pub config_path: PathBuf,
    /// The admin socket.
    pub server: AdminServer,
    /// The ports, for listings.
    pub ports: &'a [Port],
    /// Conn table capacity of all workers together.
    pub conn_capacity: u32,
    /// Generation of the last published snapshot.
    pub generation: u64,
    /// The health checker (keepalived's semantics); its events change the
    /// table like admin commands do.
    pub health: Engine,
    /// The workers' exported counters.
    pub exports: &'a [Mutex<Exported>],
    /// One listing channel per worker.
    pub dumps: Vec<crossbeam_channel::Sender<ConnDump>>,
}

impl std::fmt::Debug for ControlCore<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlCore")
            .field("generation", &self.generation)
            .finish()
    }
}

struct View<'a> {
    base: &'a BaseParts,
    ports: &'a [Port],
    conn_capacity: u32,
    health: &'a Engine,
    dumps: &'a [crossbeam_channel::Sender<ConnDump>],
}

impl DaemonView for View<'_> {
    fn conn_table_size(&self) -> u32 {
        self.conn_capacity
    }

    fn interfaces(&self) -> Vec<InterfaceEntry> {
        let mut rows = handler::interface_entries(self.base);
        for (row, port) in rows.iter_mut().zip(self.ports) {
            let st = port.stats();
            row.link_up = port.link().up;
            row.rx_packets = st.ipackets;
            row.tx_packets = st.opackets;
            row.dropped = st.imissed + st.ierrors + st.oerrors + st.rx_nombuf;
        }
        rows
    }

    fn routes(&self) -> Vec<RouteEntry> {
        handler::route_entries(self.base)
    }

    fn neighbours(&self) -> Result<Vec<NeighbourEntry>, AdminError> {
        // Every worker resolves and learns on its own: merge their tables.
        let rows = self.ask_workers(Listing::Neighbours, "neighbours")?;
        Ok(handler::merge_neighbours(rows))
    }

    fn conns(&self) -> Result<Vec<ConnEntry>, AdminError> {
        self.ask_workers(Listing::Conns, "conns")
    }

    fn health(&self) -> Vec<HealthEntry> {
        self.health.health()
    }

    fn lports_in_use(&self, _lip: std::net::Ipv4Addr) -> u32 {
        0
    }
}

impl View<'_> {
    /// Asks every worker for its rows of a listing (`ask` wraps the reply
    /// channel), then collects them: the walks run in parallel, each worker
    /// between two of its bursts.
    fn ask_workers<T>(
        &self,
        ask: impl Fn(crossbeam_channel::Sender<Vec<T>>) -> Listing,
        what: &str,
    ) -> Result<Vec<T>, AdminError> {
        let mut replies = Vec::with_capacity(self.dumps.len());
        for (w, to) in self.dumps.iter().enumerate() {
            let (tx, rx) = crossbeam_channel::bounded(1);
            to.try_send(ask(tx)).map_err(|_| {
                AdminError::Internal(format!(
                    "worker {w} is busy with another listing; try again"
                ))
            })?;
            replies.push((w, rx));
        }
        let mut rows = Vec::new();
        for (w, rx) in replies {
            let part = rx.recv_timeout(LIST_TIMEOUT).map_err(|_| {
                AdminError::Internal(format!("worker {w} did not list its {what} in time"))
            })?;
            rows.extend(part);
        }
        Ok(rows)
    }
}

fn stats_of(t: &TrafficStats) -> Stats {
    Stats {
        conns: t.conns,
        inpkts: t.inpkts,
        outpkts: t.outpkts,
        inbytes: t.inbytes,
        outbytes: t.outbytes,
    }
}

impl ControlCore<'_> {
    /// The workers' counters summed per service and per dest slot.
    fn sample(&self) -> CounterSample {
        let mut sample = CounterSample::default();
        for slot in self.exports {
            let Ok(e) = slot.lock() else { continue };
            for (id, t) in &e.services {
                sample.add_service(*id, &stats_of(t));
            }
            for (i, t) in e.dests.iter().enumerate() {
                if let Ok(slot) = u32::try_from(i) {
                    sample.add_dest(slot, &stats_of(t));
                }
            }
            for (i, &n) in e.templates.iter().enumerate() {
                if let Ok(slot) = u32::try_from(i) {
                    sample.add_templates(slot, n);
                }
            }
        }
        sample
    }

    /// Builds the next snapshot from the state and hands it to every worker.
    fn publish(&mut self) -> Result<(), String> {
        let generation = self.generation + 1;
        let snapshot = self
            .state
            .snapshot(generation, &self.base)
            .map_err(|e| e.to_string())?;
        self.generation = generation;
        let started = Instant::now();
        self.publisher
            .publish(Arc::new(snapshot), PUBLISH_TIMEOUT)
            .map_err(|e| e.to_string())?;
        tracing::debug!(
            generation,
            took_us = started.elapsed().as_micros(),
            "snapshot published"
        );
        Ok(())
    }

    /// Re-reads the config file and applies the difference; a config that
    /// fails validation changes nothing.
    fn reload(&mut self) {
        let result = Config::load(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|c| Ok((ServicePart::from_config(&c)?, Plan::from_config(&c)?)))
            .and_then(|(new, plan)| {
                let summary = reload::reload(&mut self.state, &self.part, &new)?;
                self.part = new;
                // Reload re-adds config dests that health checking had taken
                // out; the engine keeps the state of unchanged checks and
                // says what the table must look like.
                let events = self.health.reconfigure(plan)?;
                apply::apply_all(&mut self.state, &events);
                Ok(summary)
            });
        match result {
            Ok(summary) if summary.is_empty() => tracing::info!("reload: configuration unchanged"),
            Ok(summary) => match self.publish() {
                Ok(()) => tracing::info!(?summary, generation = self.generation, "reload applied"),
                Err(e) => tracing::error!("reload: {e}"),
            },
            Err(e) => tracing::error!("reload refused, nothing changed: {e}"),
        }
    }

    /// Serves until `stop` is set; `hup` asks for a config reload.
    pub fn run(&mut self, stop: &AtomicBool, hup: &AtomicBool) {
        let mut next_tick = Instant::now() + TICK;
        while !stop.load(Ordering::Relaxed) {
            if hup.swap(false, Ordering::SeqCst) {
                self.reload();
            }
            if let Some(left) = self.publisher_retry() {
                tracing::warn!("{left}");
            }
            let wait = next_tick
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            let mut health_changed = false;
            while let Ok(event) = self.health.events().try_recv() {
                match apply::apply(&mut self.state, &event) {
                    Ok(changed) => health_changed |= changed,
                    Err(e) => tracing::warn!(?event, "health: cannot apply: {e}"),
                }
            }
            if health_changed {
                if let Err(e) = self.publish() {
                    tracing::error!("health change not yet on every worker: {e}");
                }
            }
            if let Ok(call) = self.server.requests().recv_timeout(wait) {
                // Fresh counters for listings (no estimator step).
                let sample = self.sample();
                self.stats.record(&sample, &self.state);
                let view = View {
                    base: &self.base,
                    ports: self.ports,
                    conn_capacity: self.conn_capacity,
                    health: &self.health,
                    dumps: &self.dumps,
                };
                let handled = handler::handle(
                    &mut self.state,
                    &mut self.stats,
                    &view,
                    call.request.clone(),
                );
                let response = if handled.changed {
                    match self.publish() {
                        Ok(()) => handled.response,
                        Err(e) => Response::Error(AdminError::Internal(format!(
                            "the change is applied but not yet running on every worker: {e}"
                        ))),
                    }
                } else {
                    handled.response
                };
                call.respond(response);
            }
            if Instant::now() >= next_tick {
                next_tick += TICK;
                let sample = self.sample();
                self.stats.tick(&sample, &self.state);
                // Dest slots whose conns are all gone go back to the pool.
                self.state.purge_trash();
            }
        }
    }

    fn publisher_retry(&mut self) -> Option<String> {
        self.publisher
            .retry_pending(Duration::ZERO)
            .err()
            .map(|e| e.to_string())
    }
}
