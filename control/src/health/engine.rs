//! The health engine: the [`Machine`] driven by the real clock in a thread
//! of its own, probes run by a small pool of prober threads with blocking
//! sockets bounded by each check's timeout, notify scripts run in threads of
//! their own. Nothing here ever blocks the control loop: the control loop
//! reads [`HealthEvent`]s from [`Engine::events`] when it likes, applies
//! them with [`super::apply`], and asks for [`Engine::health`] for
//! `rvsadm -L --health`.

use super::machine::{Machine, Output, ProbeJob, ProbeResult};
use super::plan::{Command, Plan, Probe};
use super::{http, misc, ping, tcp, udp, HealthEvent};
use crate::admin::HealthEntry;
use crossbeam_channel::{bounded, unbounded, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a notify script may run.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`Engine::reconfigure`] waits for the engine thread.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Seed of the warmup delays.
    pub seed: u64,
    /// Most probes run at once.
    pub probers: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            seed: u64::from(std::process::id()) ^ 0x9e37_79b9_7f4a_7c15,
            probers: 32,
        }
    }
}

enum Msg {
    Result {
        dest: usize,
        generation: u64,
        result: ProbeResult,
    },
    Reconfigure(Plan, Sender<Vec<HealthEvent>>),
    Resync(Sender<Vec<HealthEvent>>),
    Stop,
}

/// The running engine. Dropping it stops the engine thread (after running
/// the omega notifies).
pub struct Engine {
    inbox: Sender<Msg>,
    events: Receiver<HealthEvent>,
    listing: Arc<Mutex<Vec<HealthEntry>>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Runs one probe (blocking, bounded by the check's timeout).
pub fn run_probe(job: &ProbeJob) -> ProbeResult {
    let c = &job.check;
    let timeout = c.timing.connect_timeout;
    match &c.probe {
        Probe::Tcp => tcp::probe(c.target, timeout),
        Probe::Http {
            tls,
            urls,
            virtualhost,
        } => http::probe(c.target, timeout, *tls, urls, virtualhost.as_deref()),
        Probe::Udp {
            payload,
            require_reply,
        } => udp::probe(c.target, timeout, payload, require_reply.as_deref()),
        Probe::Misc {
            command,
            timeout,
            dynamic,
        } => misc::probe(command, *timeout, *dynamic),
        Probe::Ping => ping::probe(c.target.ip(), timeout),
    }
}

fn notify(cmd: Command) {
    let spawned = std::thread::Builder::new()
        .name("rvs-notify".into())
        .spawn(move || match misc::run(&cmd, NOTIFY_TIMEOUT) {
            Ok(misc::Exit::Code(0)) => {}
            Ok(e) => tracing::warn!("health: notify `{}` ended with {e:?}", cmd.line),
            Err(e) => tracing::warn!("health: notify: {e}"),
        });
    if let Err(e) = spawned {
        tracing::warn!("health: cannot start a notify thread: {e}");
    }
}

impl Engine {
    /// Starts the engine for `plan`. Returns it with the events of the
    /// table as health checking wants it at start (alpha dests removed, the
    /// sorry server added): apply them before the first snapshot.
    pub fn start(
        plan: &Plan,
        options: EngineOptions,
    ) -> std::io::Result<(Engine, Vec<HealthEvent>)> {
        let epoch = Instant::now();
        let (machine, out) = Machine::new(plan, Duration::ZERO, options.seed);
        let initial = split(out);
        let (inbox, rx) = unbounded();
        let (events_tx, events) = unbounded();
        let (jobs_tx, jobs_rx) = unbounded::<ProbeJob>();
        let listing = Arc::new(Mutex::new(machine.listing()));
        for i in 0..options.probers.max(1) {
            let jobs = jobs_rx.clone();
            let results = inbox.clone();
            std::thread::Builder::new()
                .name(format!("rvs-probe{i}"))
                .spawn(move || {
                    for job in jobs {
                        let result = run_probe(&job);
                        let msg = Msg::Result {
                            dest: job.dest,
                            generation: job.generation,
                            result,
                        };
                        if results.send(msg).is_err() {
                            break;
                        }
                    }
                })?;
        }
        let shared = Arc::clone(&listing);
        let thread = std::thread::Builder::new()
            .name("rvs-health".into())
            .spawn(move || run(machine, epoch, &rx, &jobs_tx, &events_tx, &shared))?;
        Ok((
            Engine {
                inbox,
                events,
                listing,
                thread: Some(thread),
            },
            initial,
        ))
    }

    /// The events for the control loop.
    pub fn events(&self) -> &Receiver<HealthEvent> {
        &self.events
    }

    /// `rvsadm -L --health`.
    pub fn health(&self) -> Vec<HealthEntry> {
        self.listing.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// A reload: the new plan. Dests with an unchanged check keep their
    /// state. Returns the full desired table (apply it to the reloaded
    /// state before publishing it), or an error if the engine thread is
    /// gone or did not answer.
    pub fn reconfigure(&self, plan: Plan) -> Result<Vec<HealthEvent>, String> {
        let (tx, rx) = bounded(1);
        self.ask(Msg::Reconfigure(plan, tx), &rx)
    }

    /// The full desired table (to repair it after changes made behind the
    /// engine's back).
    pub fn resync(&self) -> Result<Vec<HealthEvent>, String> {
        let (tx, rx) = bounded(1);
        self.ask(Msg::Resync(tx), &rx)
    }

    fn ask(&self, msg: Msg, rx: &Receiver<Vec<HealthEvent>>) -> Result<Vec<HealthEvent>, String> {
        self.inbox
            .send(msg)
            .map_err(|_| "the health engine has stopped".to_owned())?;
        rx.recv_timeout(ANSWER_TIMEOUT)
            .map_err(|_| "the health engine did not answer".to_owned())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.inbox.send(Msg::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Events out, notifies started.
fn split(out: Vec<Output>) -> Vec<HealthEvent> {
    let mut events = Vec::new();
    for o in out {
        match o {
            Output::Event(e) => events.push(e),
            Output::Notify(c) => notify(c),
        }
    }
    events
}

fn run(
    mut machine: Machine,
    epoch: Instant,
    inbox: &Receiver<Msg>,
    jobs: &Sender<ProbeJob>,
    events: &Sender<HealthEvent>,
    listing: &Mutex<Vec<HealthEntry>>,
) {
    let publish = |m: &Machine| {
        if let Ok(mut l) = listing.lock() {
            *l = m.listing();
        }
    };
    loop {
        let now = epoch.elapsed();
        for job in machine.poll(now) {
            if jobs.send(job).is_err() {
                return;
            }
        }
        let wait = machine
            .next_deadline()
            .map_or(Duration::from_secs(3600), |d| d.saturating_sub(now));
        let msg = match inbox.recv_timeout(wait) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let now = epoch.elapsed();
        match msg {
            Msg::Result {
                dest,
                generation,
                result,
            } => {
                let out = machine.on_result(now, dest, generation, result);
                for e in split(out) {
                    if events.send(e).is_err() {
                        return;
                    }
                }
                publish(&machine);
            }
            Msg::Reconfigure(plan, reply) => {
                let out = machine.reconfigure(&plan, now);
                let _ = reply.send(split(out));
                publish(&machine);
            }
            Msg::Resync(reply) => {
                let _ = reply.send(split(machine.resync()));
            }
            Msg::Stop => {
                split(machine.shutdown());
                return;
            }
        }
    }
}
