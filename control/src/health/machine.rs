//! The health state machine, sans-IO: time comes in as a [`Duration`] since
//! an arbitrary epoch, probe results come in as [`ProbeResult`]s, and out
//! come the probes to run ([`Machine::poll`]), the table changes
//! ([`HealthEvent`]) and the scripts to run ([`Output::Notify`]). The
//! engine drives it with the real clock, tests with a virtual one.
//!
//! keepalived's rules (`check_tcp.c` `tcp_epilog`, `ipwrapper.c`):
//!
//! - a dest starts up (it is in the table from the config) unless the
//!   service has `alpha`, then it starts down and needs one good check;
//! - a failed check of an up dest is retried `retry` times,
//!   `delay_before_retry` apart; when the last retry fails too the dest
//!   goes down and the next check comes a `delay_loop` later. A down dest
//!   is not retried: one good check brings it up;
//! - a down dest leaves the table, or stays with weight 0 when it has
//!   `inhibit_on_failure`;
//! - quorum: the sum of the weights of the up dests. Below
//!   `quorum - hysteresis` (or at 0) the service loses quorum: `quorum_down`
//!   runs, and with a sorry server the sorry server goes in and every dest
//!   out; at `quorum + hysteresis` it regains it: `quorum_up` runs, the
//!   sorry server goes out and the up dests back in;
//! - `misc_dynamic`: exit status 2 to 255 is up with weight status - 2,
//!   status 0 up with the configured weight.

use super::plan::{CheckSpec, Command, DestPlan, Plan, ServicePlan};
use super::{Action, Cause, HealthEvent};
use crate::admin::{DestSpec, HealthEntry, HealthState, ServiceKey};
use crate::state::{dest_label, key_label};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// Index of a dest in the machine (stable until the next reconfigure).
pub type DestId = usize;

/// One probe to run now.
#[derive(Debug, Clone)]
pub struct ProbeJob {
    /// Which dest.
    pub dest: DestId,
    /// Its generation: a result for an older one is dropped.
    pub generation: u64,
    /// What to run.
    pub check: Arc<CheckSpec>,
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeResult {
    /// Passed.
    pub ok: bool,
    /// `misc_dynamic`: the weight the script asked for.
    pub weight: Option<u32>,
    /// "ok" or what went wrong.
    pub detail: String,
}

impl ProbeResult {
    /// A pass.
    pub fn up() -> Self {
        ProbeResult {
            ok: true,
            weight: None,
            detail: "ok".into(),
        }
    }

    /// A failure with its reason.
    pub fn down(detail: impl Into<String>) -> Self {
        ProbeResult {
            ok: false,
            weight: None,
            detail: detail.into(),
        }
    }
}

/// What the machine asks the world to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Change the service table.
    Event(HealthEvent),
    /// Run a script (notify_up/down, quorum_up/down).
    Notify(Command),
}

#[derive(Debug, Clone)]
struct DestState {
    svc: usize,
    plan: DestPlan,
    check: Option<Arc<CheckSpec>>,
    up: bool,
    /// The weight while up (misc_dynamic may change it).
    weight: u32,
    retry_it: u32,
    streak: u32,
    detail: String,
    next_at: Duration,
    in_flight: bool,
    generation: u64,
}

#[derive(Debug, Clone)]
struct SvcState {
    plan: ServicePlan,
    dests: Vec<DestId>,
    quorum_up: bool,
    /// What the table holds for each managed (rip, port), as last told.
    told: BTreeMap<(IpAddr, u16), Action>,
}

/// The health of every checked service.
#[derive(Debug, Clone)]
pub struct Machine {
    services: Vec<SvcState>,
    dests: Vec<DestState>,
    rng: u64,
    next_generation: u64,
}

impl Machine {
    /// A machine for `plan` at time `now`; `seed` drives the warmup delays.
    /// The returned outputs are the table as health checking wants it at
    /// start (alpha dests out, the sorry server in): apply them before the
    /// first snapshot.
    pub fn new(plan: &Plan, now: Duration, seed: u64) -> (Machine, Vec<Output>) {
        let mut m = Machine {
            services: Vec::new(),
            dests: Vec::new(),
            // xorshift needs a non-zero state.
            rng: seed | 1,
            next_generation: 1,
        };
        let out = m.load(plan, now, &HashMap::new());
        (m, out)
    }

    fn random_below(&mut self, bound: Duration) -> Duration {
        if bound.is_zero() {
            return Duration::ZERO;
        }
        // xorshift64: jitter only, no need for a stronger generator.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(x % nanos.saturating_add(1))
    }

    /// Builds the states of `plan`, keeping those in `keep` (by service and
    /// dest) whose plan did not change.
    fn load(
        &mut self,
        plan: &Plan,
        now: Duration,
        keep: &HashMap<(ServiceKey, IpAddr, u16), (DestState, bool)>,
    ) -> Vec<Output> {
        self.services.clear();
        self.dests.clear();
        for sp in &plan.services {
            let svc = self.services.len();
            let mut ids = Vec::with_capacity(sp.dests.len());
            for dp in &sp.dests {
                let id = self.dests.len();
                let k = (sp.key, dp.spec.rip, dp.spec.port);
                let state = match keep.get(&k) {
                    Some((old, same_alpha)) if old.plan == *dp && *same_alpha => {
                        let mut s = old.clone();
                        s.svc = svc;
                        s
                    }
                    _ => {
                        let check = dp.check.clone().map(Arc::new);
                        let warmup = check.as_ref().map_or(Duration::ZERO, |c| c.timing.warmup);
                        let delay = self.random_below(warmup);
                        let generation = self.next_generation;
                        self.next_generation += 1;
                        DestState {
                            svc,
                            up: !(sp.alpha && check.is_some()),
                            weight: dp.spec.weight,
                            retry_it: 0,
                            streak: 0,
                            detail: if check.is_some() {
                                "not checked yet".into()
                            } else {
                                "no check".into()
                            },
                            next_at: now + delay,
                            in_flight: false,
                            generation,
                            plan: dp.clone(),
                            check,
                        }
                    }
                };
                self.dests.push(state);
                ids.push(id);
            }
            let mut s = SvcState {
                plan: sp.clone(),
                dests: ids,
                quorum_up: true,
                told: BTreeMap::new(),
            };
            s.quorum_up = self.up_weight(&s) >= s.plan.quorum;
            if !s.quorum_up {
                tracing::info!(
                    service = %key_label(&sp.key),
                    "health: service starts without quorum ({} < {})",
                    self.up_weight(&s),
                    sp.quorum
                );
            }
            self.services.push(s);
        }
        let mut out = Vec::new();
        for svc in 0..self.services.len() {
            self.sync(svc, Cause::Resync, true, &mut out);
        }
        out
    }

    /// Replaces the plan (a reload). Dests whose plan is unchanged keep
    /// their state (up/down, retries, timers), so nothing flaps; new or
    /// changed ones start as at startup. Services that left the plan run
    /// their omega notifies. The outputs hold the full desired table of
    /// every service (the reload re-added config dests at their config
    /// weight): apply them before publishing the reloaded table.
    pub fn reconfigure(&mut self, plan: &Plan, now: Duration) -> Vec<Output> {
        let mut out = Vec::new();
        let mut keep = HashMap::new();
        for s in &self.services {
            let new_alpha = plan.service(&s.plan.key).map(|n| n.alpha);
            match new_alpha {
                None => self.omega(s, &mut out),
                Some(alpha) => {
                    for &id in &s.dests {
                        let d = &self.dests[id];
                        keep.insert(
                            (s.plan.key, d.plan.spec.rip, d.plan.spec.port),
                            (d.clone(), alpha == s.plan.alpha),
                        );
                    }
                }
            }
        }
        out.extend(self.load(plan, now, &keep));
        out
    }

    /// keepalived's `omega`: when a service goes away (reload, shutdown),
    /// its up dests' notify_down and its quorum_down run.
    fn omega(&self, s: &SvcState, out: &mut Vec<Output>) {
        if !s.plan.omega {
            return;
        }
        for &id in &s.dests {
            let d = &self.dests[id];
            if d.up {
                if let Some(c) = &d.plan.notify_down {
                    out.push(Output::Notify(c.clone()));
                }
            }
        }
        if s.quorum_up {
            if let Some(c) = &s.plan.quorum_down {
                out.push(Output::Notify(c.clone()));
            }
        }
    }

    /// The omega notifies of every service (daemon shutdown).
    pub fn shutdown(&self) -> Vec<Output> {
        let mut out = Vec::new();
        for s in &self.services {
            self.omega(s, &mut out);
        }
        out
    }

    /// The probes due at `now`; each dest has at most one in flight.
    pub fn poll(&mut self, now: Duration) -> Vec<ProbeJob> {
        let mut jobs = Vec::new();
        for (id, d) in self.dests.iter_mut().enumerate() {
            if let Some(check) = &d.check {
                if !d.in_flight && d.next_at <= now {
                    d.in_flight = true;
                    jobs.push(ProbeJob {
                        dest: id,
                        generation: d.generation,
                        check: Arc::clone(check),
                    });
                }
            }
        }
        jobs
    }

    /// When the next probe is due (none while all are in flight).
    pub fn next_deadline(&self) -> Option<Duration> {
        self.dests
            .iter()
            .filter(|d| d.check.is_some() && !d.in_flight)
            .map(|d| d.next_at)
            .min()
    }

    /// Takes the result of a probe that finished at `now`.
    pub fn on_result(
        &mut self,
        now: Duration,
        dest: DestId,
        generation: u64,
        result: ProbeResult,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        let Some(d) = self.dests.get_mut(dest) else {
            return out;
        };
        if d.generation != generation {
            return out;
        }
        d.in_flight = false;
        let Some(timing) = d.check.as_ref().map(|c| c.timing) else {
            return out;
        };
        let svc = d.svc;
        let key = self.services[svc].plan.key;
        let label = format!(
            "{} {}",
            key_label(&key),
            dest_label(d.plan.spec.rip, d.plan.spec.port)
        );
        let mut cause = None;
        d.detail.clone_from(&result.detail);
        if result.ok {
            d.retry_it = 0;
            d.next_at = now + timing.delay_loop;
            let weight = result.weight.unwrap_or(d.plan.spec.weight);
            if !d.up {
                d.up = true;
                d.streak = 1;
                d.weight = weight;
                tracing::info!("health: dest {} is UP: {}", label, result.detail);
                if let Some(c) = &d.plan.notify_up {
                    out.push(Output::Notify(c.clone()));
                }
                cause = Some(Cause::DestUp);
            } else {
                d.streak = d.streak.saturating_add(1);
                if weight != d.weight {
                    tracing::info!(
                        "health: dest {} weight {} -> {weight} (misc_dynamic)",
                        label,
                        d.weight
                    );
                    d.weight = weight;
                    cause = Some(Cause::Weight);
                }
            }
        } else if d.up && d.retry_it < timing.retry {
            d.retry_it += 1;
            d.next_at = now + timing.delay_before_retry;
            tracing::debug!(
                "health: dest {} failed ({}), retry {} of {}",
                label,
                result.detail,
                d.retry_it,
                timing.retry
            );
        } else {
            d.retry_it = 0;
            d.next_at = now + timing.delay_loop;
            if d.up {
                d.up = false;
                d.streak = 1;
                tracing::info!(
                    "health: dest {} is DOWN after {} retries: {}",
                    label,
                    timing.retry,
                    result.detail
                );
                if let Some(c) = &d.plan.notify_down {
                    out.push(Output::Notify(c.clone()));
                }
                cause = Some(Cause::DestDown);
            } else {
                d.streak = d.streak.saturating_add(1);
            }
        }
        if let Some(cause) = cause {
            self.update_quorum(svc, &mut out);
            self.sync(svc, cause, false, &mut out);
        }
        out
    }

    fn up_weight(&self, s: &SvcState) -> u32 {
        s.dests
            .iter()
            .map(|&id| &self.dests[id])
            .filter(|d| d.up)
            .fold(0u32, |acc, d| acc.saturating_add(d.weight))
    }

    /// keepalived's `update_quorum_state`.
    fn update_quorum(&mut self, svc: usize, out: &mut Vec<Output>) {
        let sum = self.up_weight(&self.services[svc]);
        let s = &mut self.services[svc];
        let up_at = s.plan.quorum.saturating_add(s.plan.hysteresis);
        let down_below = s.plan.quorum.saturating_sub(s.plan.hysteresis);
        let label = key_label(&s.plan.key);
        if !s.quorum_up && sum >= up_at {
            s.quorum_up = true;
            tracing::info!(
                "health: service {label} gained quorum: {sum} >= {}+{}",
                s.plan.quorum,
                s.plan.hysteresis
            );
            if let Some(c) = &s.plan.quorum_up {
                out.push(Output::Notify(c.clone()));
            }
        } else if s.quorum_up && (sum == 0 || sum < down_below) {
            s.quorum_up = false;
            tracing::info!(
                "health: service {label} lost quorum: {sum} < {}-{}",
                s.plan.quorum,
                s.plan.hysteresis
            );
            if let Some(c) = &s.plan.quorum_down {
                out.push(Output::Notify(c.clone()));
            }
        }
    }

    /// What the table must hold for every dest of `svc` (and its sorry
    /// server).
    fn desired(&self, svc: usize) -> Vec<Action> {
        let s = &self.services[svc];
        let sorry_mode = !s.quorum_up && s.plan.sorry.is_some();
        let mut want = Vec::with_capacity(s.dests.len() + 1);
        for &id in &s.dests {
            let d = &self.dests[id];
            let spec = d.plan.spec;
            let gone = |inhibit: bool| {
                if inhibit {
                    Action::Set(DestSpec { weight: 0, ..spec })
                } else {
                    Action::Remove {
                        rip: spec.rip,
                        port: spec.port,
                    }
                }
            };
            want.push(if sorry_mode || !d.up {
                gone(d.plan.inhibit)
            } else {
                Action::Set(DestSpec {
                    weight: d.weight,
                    ..spec
                })
            });
        }
        if let Some(sorry) = s.plan.sorry {
            want.push(if sorry_mode {
                Action::Set(sorry)
            } else {
                Action::Remove {
                    rip: sorry.rip,
                    port: sorry.port,
                }
            });
        }
        want
    }

    /// Emits the difference between what the table was told and what it
    /// must hold (everything when `all`).
    fn sync(&mut self, svc: usize, cause: Cause, all: bool, out: &mut Vec<Output>) {
        let want = self.desired(svc);
        let s = &mut self.services[svc];
        let mut cause_here = cause;
        if cause != Cause::Resync {
            let sorry_mode = !s.quorum_up && s.plan.sorry.is_some();
            let was_sorry = s
                .plan
                .sorry
                .is_some_and(|so| matches!(s.told.get(&(so.rip, so.port)), Some(Action::Set(_))));
            if sorry_mode && !was_sorry {
                cause_here = Cause::QuorumLost;
            } else if !sorry_mode && was_sorry {
                cause_here = Cause::QuorumGained;
            }
        }
        for a in want {
            let k = a.dest();
            if all || s.told.get(&k) != Some(&a) {
                s.told.insert(k, a);
                out.push(Output::Event(HealthEvent {
                    service: s.plan.key,
                    action: a,
                    cause: cause_here,
                }));
            }
        }
    }

    /// The full desired table of every service (for a resync).
    pub fn resync(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        for svc in 0..self.services.len() {
            self.sync(svc, Cause::Resync, true, &mut out);
        }
        out
    }

    /// True when `dest` is up.
    pub fn is_up(&self, key: &ServiceKey, rip: IpAddr, port: u16) -> Option<bool> {
        self.find(key, rip, port).map(|d| d.up)
    }

    /// True when the service has quorum.
    pub fn has_quorum(&self, key: &ServiceKey) -> Option<bool> {
        self.services
            .iter()
            .find(|s| s.plan.key == *key)
            .map(|s| s.quorum_up)
    }

    /// The id of a dest, for feeding results in tests.
    pub fn dest_id(&self, key: &ServiceKey, rip: IpAddr, port: u16) -> Option<DestId> {
        self.dests.iter().position(|d| {
            self.services[d.svc].plan.key == *key
                && d.plan.spec.rip == rip
                && d.plan.spec.port == port
        })
    }

    fn find(&self, key: &ServiceKey, rip: IpAddr, port: u16) -> Option<&DestState> {
        self.dest_id(key, rip, port).map(|i| &self.dests[i])
    }

    /// `rvsadm -L --health`: every dest health checking knows.
    pub fn listing(&self) -> Vec<HealthEntry> {
        self.dests
            .iter()
            .map(|d| HealthEntry {
                service: self.services[d.svc].plan.key,
                rip: d.plan.spec.rip,
                port: d.plan.spec.port,
                checker: d
                    .check
                    .as_ref()
                    .map_or("none", |c| c.probe.name())
                    .to_owned(),
                state: match (&d.check, d.up) {
                    (None, _) => HealthState::Unknown,
                    (Some(_), true) => HealthState::Up,
                    (Some(_), false) => HealthState::Down,
                },
                streak: d.streak,
                detail: d.detail.clone(),
            })
            .collect()
    }
}
