//! The health state machine with a virtual clock, the config keys that feed
//! it, `apply` on a real `State`, and the engine with real threads.

use control::admin::{FwdMethod, HealthState, ServiceKey};
use control::config::{Config, ConfigError};
use control::health::machine::{Machine, Output, ProbeResult};
use control::health::plan::Plan;
use control::health::{apply, Action, Cause, Engine, EngineOptions, HealthEvent};
use control::reload::{self, ServicePart};
use control::state::{Limits, State};
use std::net::{IpAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

fn config_text(services: &str) -> String {
    format!(
        r#"(
    interfaces: [(name: "lb0", device: "net_ring0", addresses: ["198.18.0.1/24"])],
    services: [{services}],
)"#
    )
}

fn parse(services: &str) -> Result<Config, ConfigError> {
    Config::parse(&config_text(services), Path::new("test.ron"))
}

fn plan(services: &str) -> Plan {
    Plan::from_config(&parse(services).unwrap()).unwrap()
}

fn key() -> ServiceKey {
    ServiceKey::Addr {
        protocol: control::admin::Protocol::Tcp,
        vip: "10.0.0.1".parse().unwrap(),
        port: 80,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn events(out: &[Output]) -> Vec<HealthEvent> {
    out.iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(e.clone()),
            Output::Notify(_) => None,
        })
        .collect()
}

fn notifies(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Notify(c) => Some(c.line.clone()),
            Output::Event(_) => None,
        })
        .collect()
}

/// A probe result: when, which dest, passed.
type Finished = (Duration, usize, bool);

/// Feeds every due probe the verdict `world(dest index, time)` and
/// returns the outputs, with the time of each result, until `until`.
/// A passing probe answers in 1 ms, a failing one uses the whole
/// connect_timeout (a dest that stopped answering).
fn drive(
    m: &mut Machine,
    start: Duration,
    until: Duration,
    timeout: Duration,
    world: &dyn Fn(usize, Duration) -> bool,
) -> (Vec<(Duration, Output)>, Vec<Finished>) {
    let mut now = start;
    let mut pending: Vec<(Duration, usize, u64, bool)> = Vec::new();
    let mut out = Vec::new();
    let mut results = Vec::new();
    while now <= until {
        for job in m.poll(now) {
            let ok = world(job.dest, now);
            let done = now
                + if ok {
                    Duration::from_millis(1)
                } else {
                    timeout
                };
            pending.push((done, job.dest, job.generation, ok));
        }
        pending.sort_by_key(|p| p.0);
        let next_result = pending.first().map(|p| p.0);
        let next = match (next_result, m.next_deadline()) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => break,
            },
        };
        now = next.max(now);
        while pending.first().is_some_and(|p| p.0 <= now) {
            let (t, dest, generation, ok) = pending.remove(0);
            results.push((t, dest, ok));
            let r = if ok {
                ProbeResult::up()
            } else {
                ProbeResult::down("timed out")
            };
            for o in m.on_result(t, dest, generation, r) {
                out.push((t, o));
            }
        }
    }
    (out, results)
}

const TWO: &str = r#"(tcp: "10.0.0.1:80", delay_loop: 3, dests: [
    (rip: "192.168.1.1", method: nat, check: (kind: tcp, connect_timeout: 2, retry: 2, delay_before_retry: 1)),
    (rip: "192.168.1.2", method: nat, check: (kind: tcp, connect_timeout: 2, retry: 2, delay_before_retry: 1)),
])"#;

#[test]
fn starts_up_and_goes_down_within_the_bound() {
    let p = plan(TWO);
    let timing = p.services[0].dests[0].check.as_ref().unwrap().timing;
    assert_eq!(timing.delay_loop, Duration::from_secs(3));
    let (mut m, initial) = Machine::new(&p, Duration::ZERO, 1);
    // keepalived: dests start up; the resync just states the table.
    let ev = events(&initial);
    assert_eq!(ev.len(), 2);
    assert!(ev
        .iter()
        .all(|e| matches!(e.action, Action::Set(d) if d.weight == 1)));
    assert!(ev.iter().all(|e| e.cause == Cause::Resync));

    let stop = Duration::from_secs(20);
    let (out, results) = drive(
        &mut m,
        Duration::ZERO,
        Duration::from_secs(60),
        timing.connect_timeout,
        &|d, t| d == 1 || t < stop,
    );
    let downs: Vec<_> = out
        .iter()
        .filter(|(_, o)| matches!(o, Output::Event(e) if e.cause == Cause::DestDown))
        .collect();
    assert_eq!(downs.len(), 1, "{out:?}");
    let (t_down, Output::Event(e)) = downs[0] else {
        unreachable!()
    };
    assert_eq!(
        e.action,
        Action::Remove {
            rip: ip("192.168.1.1"),
            port: 80
        }
    );
    let last_ok = results
        .iter()
        .filter(|r| r.1 == 0 && r.2)
        .map(|r| r.0)
        .max()
        .unwrap();
    assert!(last_ok < stop);
    assert!(*t_down > stop, "down only after it stopped answering");
    assert!(*t_down <= stop + timing.down_bound());
    assert!(
        *t_down - last_ok <= timing.down_bound(),
        "down at {t_down:?}, bound {:?} after {last_ok:?}",
        timing.down_bound()
    );
    // retry 2: three failed attempts, the retries 1 s apart, so not before
    // that much after the last good check.
    assert!(*t_down >= last_ok + timing.connect_timeout * 3 + timing.delay_before_retry * 2);
    assert_eq!(m.is_up(&key(), ip("192.168.1.1"), 80), Some(false));
    assert_eq!(m.is_up(&key(), ip("192.168.1.2"), 80), Some(true));
    let l = m.listing();
    assert_eq!(l[0].state, HealthState::Down);
    assert_eq!(l[0].checker, "tcp");
    assert_eq!(l[1].state, HealthState::Up);
}

#[test]
fn one_success_brings_a_down_dest_back() {
    let p = plan(TWO);
    let (mut m, _) = Machine::new(&p, Duration::ZERO, 1);
    let t = Duration::from_secs(2);
    let (out, _) = drive(
        &mut m,
        Duration::ZERO,
        Duration::from_secs(30),
        t,
        &|d, now| d == 1 || now < Duration::from_secs(5) || now > Duration::from_secs(20),
    );
    let causes: Vec<Cause> = out
        .iter()
        .filter_map(|(_, o)| match o {
            Output::Event(e) => Some(e.cause),
            Output::Notify(_) => None,
        })
        .collect();
    assert_eq!(causes, [Cause::DestDown, Cause::DestUp]);
}

#[test]
fn alpha_starts_down_and_warmup_is_seeded() {
    let p = plan(
        &TWO.replace("delay_loop: 3,", "delay_loop: 3, alpha: true,")
            .replace("retry: 2,", "retry: 2, warmup: 10,"),
    );
    let (mut m, initial) = Machine::new(&p, Duration::ZERO, 42);
    assert!(events(&initial)
        .iter()
        .all(|e| matches!(e.action, Action::Remove { .. })));
    assert_eq!(m.has_quorum(&key()), Some(false));
    let first = m.next_deadline().unwrap();
    assert!(first <= Duration::from_secs(10));
    let (m2, _) = Machine::new(&p, Duration::ZERO, 42);
    assert_eq!(m2.next_deadline(), Some(first), "same seed, same warmup");
    let jobs = m.poll(Duration::from_secs(10));
    assert_eq!(jobs.len(), 2);
    let out = m.on_result(
        Duration::from_secs(10),
        jobs[0].dest,
        jobs[0].generation,
        ProbeResult::up(),
    );
    let ev = events(&out);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].cause, Cause::DestUp);
    assert!(matches!(ev[0].action, Action::Set(d) if d.rip == ip("192.168.1.1") && d.weight == 1));
    // A stale result (older generation) is ignored.
    assert!(m
        .on_result(
            Duration::from_secs(11),
            jobs[1].dest,
            jobs[1].generation + 99,
            ProbeResult::up()
        )
        .is_empty());
}

#[test]
fn inhibit_on_failure_gives_weight_zero() {
    let p = plan(
        &TWO.replace("delay_loop: 3,", "delay_loop: 3, inhibit_on_failure: true,")
            .replace("retry: 2,", "retry: 0,"),
    );
    let (mut m, _) = Machine::new(&p, Duration::ZERO, 1);
    let jobs = m.poll(Duration::ZERO);
    let out = m.on_result(
        Duration::from_secs(2),
        jobs[0].dest,
        jobs[0].generation,
        ProbeResult::down("x"),
    );
    let ev = events(&out);
    assert_eq!(ev.len(), 1);
    assert!(matches!(ev[0].action, Action::Set(d) if d.weight == 0 && d.fwd == FwdMethod::Masq));
}

/// A machine with the probes it handed out and that are not answered yet.
struct H {
    m: Machine,
    inflight: Vec<(usize, u64)>,
}

impl H {
    fn new(m: Machine) -> Self {
        H {
            m,
            inflight: Vec::new(),
        }
    }
}

impl std::ops::Deref for H {
    type Target = Machine;
    fn deref(&self) -> &Machine {
        &self.m
    }
}

fn result(h: &mut H, now: Duration, dest: usize, r: ProbeResult) -> Vec<Output> {
    for j in h.m.poll(now) {
        h.inflight.push((j.dest, j.generation));
    }
    let i = h
        .inflight
        .iter()
        .position(|&(d, _)| d == dest)
        .expect("due");
    let (_, generation) = h.inflight.remove(i);
    h.m.on_result(now, dest, generation, r)
}

fn fail(m: &mut H, now: Duration, dest: usize) -> Vec<Output> {
    result(m, now, dest, ProbeResult::down("x"))
}

fn pass(m: &mut H, now: Duration, dest: usize) -> Vec<Output> {
    result(m, now, dest, ProbeResult::up())
}

#[test]
fn sorry_server_when_all_are_down_and_out_when_one_is_back() {
    let p = plan(
        &TWO.replace(
            "delay_loop: 3,",
            "delay_loop: 3, sorry_server: \"127.0.0.1:8080\",",
        )
        .replace("retry: 2,", "retry: 0,"),
    );
    assert_eq!(p.services[0].sorry.unwrap().fwd, FwdMethod::Masq);
    let (m, initial) = Machine::new(&p, Duration::ZERO, 1);
    let mut m = H::new(m);
    let sorry = Action::Remove {
        rip: ip("127.0.0.1"),
        port: 8080,
    };
    assert!(events(&initial).iter().any(|e| e.action == sorry));
    let t = Duration::from_secs(1);
    assert_eq!(
        events(&fail(&mut m, t, 0)).len(),
        1,
        "one down: still quorum"
    );
    let ev = events(&fail(&mut m, t, 1));
    assert!(ev.iter().all(|e| e.cause == Cause::QuorumLost), "{ev:?}");
    assert!(ev
        .iter()
        .any(|e| matches!(e.action, Action::Set(d) if d.rip == ip("127.0.0.1") && d.port == 8080)));
    assert!(ev.iter().any(|e| e.action
        == Action::Remove {
            rip: ip("192.168.1.2"),
            port: 80
        }));
    let later = Duration::from_secs(10);
    let ev = events(&pass(&mut m, later, 1));
    assert!(ev.iter().all(|e| e.cause == Cause::QuorumGained), "{ev:?}");
    assert!(ev.contains(&HealthEvent {
        service: key(),
        action: sorry,
        cause: Cause::QuorumGained
    }));
    assert!(ev
        .iter()
        .any(|e| matches!(e.action, Action::Set(d) if d.rip == ip("192.168.1.2"))));
}

#[test]
fn quorum_with_hysteresis_runs_the_scripts() {
    let three = r#"(tcp: "10.0.0.1:80", quorum: 2, hysteresis: 1, quorum_up: "/bin/true up", quorum_down: "/bin/true down", dests: [
        (rip: "192.168.1.1", check: (kind: tcp, retry: 0)),
        (rip: "192.168.1.2", check: (kind: tcp, retry: 0)),
        (rip: "192.168.1.3", check: (kind: tcp, retry: 0)),
    ])"#;
    let (m, _) = Machine::new(&plan(three), Duration::ZERO, 1);
    let mut m = H::new(m);
    let t = Duration::from_secs(1);
    assert_eq!(m.has_quorum(&key()), Some(true));
    assert!(notifies(&fail(&mut m, t, 0)).is_empty(), "3 -> 2");
    assert!(
        notifies(&fail(&mut m, t, 1)).is_empty(),
        "2 -> 1: not below 2-1"
    );
    assert_eq!(notifies(&fail(&mut m, t, 2)), ["/bin/true down"], "1 -> 0");
    assert_eq!(m.has_quorum(&key()), Some(false));
    let t = Duration::from_secs(100);
    assert!(notifies(&pass(&mut m, t, 0)).is_empty(), "1 < 2+1");
    assert!(notifies(&pass(&mut m, t, 1)).is_empty(), "2 < 2+1");
    assert_eq!(notifies(&pass(&mut m, t, 2)), ["/bin/true up"]);
    assert_eq!(m.has_quorum(&key()), Some(true));
}

#[test]
fn misc_dynamic_weight_changes_the_dest() {
    let p = plan(
        r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", weight: 3, check: (kind: misc, misc_path: "/bin/true", misc_dynamic: true))])"#,
    );
    let (mut m, _) = Machine::new(&p, Duration::ZERO, 1);
    let jobs = m.poll(Duration::ZERO);
    let r = ProbeResult {
        ok: true,
        weight: Some(5),
        detail: "exit 7".into(),
    };
    let ev = events(&m.on_result(Duration::ZERO, 0, jobs[0].generation, r));
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].cause, Cause::Weight);
    assert!(matches!(ev[0].action, Action::Set(d) if d.weight == 5));
    let jobs = m.poll(Duration::from_secs(60));
    let ev = events(&m.on_result(
        Duration::from_secs(60),
        0,
        jobs[0].generation,
        ProbeResult::up(),
    ));
    assert!(
        matches!(ev[0].action, Action::Set(d) if d.weight == 3),
        "exit 0: configured weight"
    );
}

#[test]
fn notify_up_and_down_per_dest() {
    let p = plan(
        r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", notify_up: "/bin/true is-up", notify_down: "/bin/true is-down", check: (kind: tcp, retry: 0))])"#,
    );
    let (m, _) = Machine::new(&p, Duration::ZERO, 1);
    let mut m = H::new(m);
    assert_eq!(
        notifies(&fail(&mut m, Duration::ZERO, 0)),
        ["/bin/true is-down"]
    );
    assert_eq!(
        notifies(&pass(&mut m, Duration::from_secs(60), 0)),
        ["/bin/true is-up"]
    );
}

#[test]
fn reconfigure_keeps_unchanged_state_and_runs_omega() {
    let svc = TWO
        .replace("delay_loop: 3,", "delay_loop: 3, omega: true,")
        .replace(
            "(rip: \"192.168.1.2\", method: nat,",
            "(rip: \"192.168.1.2\", method: nat, notify_down: \"/bin/true gone\",",
        );
    let p = plan(&svc);
    let (mut m, _) = Machine::new(&p, Duration::ZERO, 1);
    let t = Duration::from_secs(1);
    for _ in 0..3 {
        let jobs = m.poll(Duration::from_secs(1000));
        let j = jobs.iter().find(|j| j.dest == 0).unwrap();
        m.on_result(t, 0, j.generation, ProbeResult::down("x"));
    }
    assert_eq!(m.is_up(&key(), ip("192.168.1.1"), 80), Some(false));
    // Same plan: the down dest stays down, the resync says so.
    let out = m.reconfigure(&p, Duration::from_secs(2));
    assert!(events(&out).contains(&HealthEvent {
        service: key(),
        action: Action::Remove {
            rip: ip("192.168.1.1"),
            port: 80
        },
        cause: Cause::Resync
    }));
    assert_eq!(m.is_up(&key(), ip("192.168.1.1"), 80), Some(false));
    // A changed check starts over (up, as at startup).
    let changed = plan(&svc.replacen("connect_timeout: 2", "connect_timeout: 3", 1));
    m.reconfigure(&changed, Duration::from_secs(3));
    assert_eq!(m.is_up(&key(), ip("192.168.1.1"), 80), Some(true));
    // The service leaves the config: omega runs the up dests' notify_down.
    let out = m.reconfigure(&Plan::default(), Duration::from_secs(4));
    assert_eq!(notifies(&out), ["/bin/true gone"]);
    assert!(m.listing().is_empty());
}

#[test]
fn config_errors() {
    let e = parse(r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", check: (kind: misc, misc_path: "/nonexistent/check.sh"))])"#)
        .unwrap_err();
    assert!(matches!(e, ConfigError::Invalid { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/check.sh"), "{e}");
    assert!(e.to_string().contains("dest 192.168.1.1:80"), "{e}");
    let e = parse(
        r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", check: (kind: tcp, pathh: "/"))])"#,
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::Parse { line: 3, .. }), "{e}");
    for (svc, want) in [
        (
            r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", check: (kind: tcp, misc_path: "/bin/true"))])"#,
            "does not apply",
        ),
        (
            r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", check: (kind: http))])"#,
            "urls",
        ),
        (
            r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", check: (kind: http, urls: [(path: "/", digest: "abc")]))])"#,
            "not hex",
        ),
        (
            r#"(tcp: "10.0.0.1:80", sorry_server: "127.0.0.1", dests: [(rip: "192.168.1.1", check: (kind: tcp))])"#,
            "RIP:port",
        ),
        (
            r#"(tcp: "10.0.0.1:80", alpha: true, dests: [(rip: "192.168.1.1")])"#,
            "need a `check`",
        ),
        (
            r#"(tcp: "10.0.0.1:80", dests: [(rip: "192.168.1.1", notify_up: "/nonexistent/up.sh", check: (kind: tcp))])"#,
            "notify_up",
        ),
        (
            r#"(mark: 7, dests: [(rip: "192.168.1.1", check: (kind: tcp))])"#,
            "connect_port",
        ),
    ] {
        let e = parse(svc).unwrap_err().to_string();
        assert!(e.contains(want), "{e} should say {want}");
    }
}

fn state_for(services: &str) -> (State, Config) {
    let c = parse(services).unwrap();
    let mut st = State::new(Limits {
        workers: 1,
        max_dests: 64,
    });
    reload::load(&mut st, &ServicePart::from_config(&c).unwrap()).unwrap();
    (st, c)
}

#[test]
fn apply_uses_the_state_methods() {
    let svc = TWO.replace(
        "delay_loop: 3,",
        "delay_loop: 3, sorry_server: \"127.0.0.1:8080\",",
    );
    let (mut st, _) = state_for(&svc);
    let slot = st
        .service(&key())
        .unwrap()
        .dest(ip("192.168.1.1"), 80)
        .unwrap()
        .slot;
    let rm = HealthEvent {
        service: key(),
        action: Action::Remove {
            rip: ip("192.168.1.1"),
            port: 80,
        },
        cause: Cause::DestDown,
    };
    assert_eq!(apply::apply(&mut st, &rm), Ok(true));
    assert_eq!(apply::apply(&mut st, &rm), Ok(false), "idempotent");
    assert!(st
        .service(&key())
        .unwrap()
        .dest(ip("192.168.1.1"), 80)
        .is_none());
    let p = plan(&svc);
    let spec = p.services[0].dests[0].spec;
    let up = HealthEvent {
        service: key(),
        action: Action::Set(spec),
        cause: Cause::DestUp,
    };
    assert_eq!(apply::apply(&mut st, &up), Ok(true));
    let back = st
        .service(&key())
        .unwrap()
        .dest(ip("192.168.1.1"), 80)
        .unwrap()
        .clone();
    assert_eq!(back.slot, slot, "the trash gives the slot back");
    let zero = HealthEvent {
        action: Action::Set(control::admin::DestSpec { weight: 0, ..spec }),
        ..up.clone()
    };
    assert_eq!(apply::apply(&mut st, &zero), Ok(true));
    assert_eq!(
        st.service(&key())
            .unwrap()
            .dest(ip("192.168.1.1"), 80)
            .unwrap()
            .spec
            .weight,
        0
    );
    // The sorry server, and a service that is gone.
    let sorry = HealthEvent {
        service: key(),
        action: Action::Set(p.services[0].sorry.unwrap()),
        cause: Cause::QuorumLost,
    };
    assert_eq!(apply::apply(&mut st, &sorry), Ok(true));
    assert_eq!(st.service(&key()).unwrap().dests.len(), 3);
    st.del_service(&key()).unwrap();
    assert_eq!(apply::apply(&mut st, &up), Ok(false));
}

#[test]
fn machine_and_apply_keep_the_table_in_step() {
    let svc = TWO
        .replace(
            "delay_loop: 3,",
            "delay_loop: 3, sorry_server: \"127.0.0.1:8080\",",
        )
        .replace("retry: 2,", "retry: 0,");
    let (mut st, _) = state_for(&svc);
    let (m, initial) = Machine::new(&plan(&svc), Duration::ZERO, 1);
    let mut m = H::new(m);
    let (changed, failed) = apply::apply_all(&mut st, &events(&initial));
    assert_eq!(
        (changed, failed),
        (false, 0),
        "the config table is already right"
    );
    let t = Duration::from_secs(1);
    apply::apply_all(&mut st, &events(&fail(&mut m, t, 0)));
    apply::apply_all(&mut st, &events(&fail(&mut m, t, 1)));
    let dests: Vec<_> = st
        .service(&key())
        .unwrap()
        .dests
        .iter()
        .map(|d| (d.spec.rip, d.spec.port))
        .collect();
    assert_eq!(dests, [(ip("127.0.0.1"), 8080)], "only the sorry server");
    apply::apply_all(&mut st, &events(&pass(&mut m, Duration::from_secs(10), 0)));
    let dests: Vec<_> = st
        .service(&key())
        .unwrap()
        .dests
        .iter()
        .map(|d| d.spec.rip)
        .collect();
    assert_eq!(dests, [ip("192.168.1.1")]);
}

#[test]
fn engine_reports_a_dest_that_stops_answering() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let svc = format!(
        r#"(tcp: "10.0.0.1:80", dests: [(rip: "127.0.0.1:{port}", method: nat, check: (kind: tcp, delay_loop: 1, connect_timeout: 1, retry: 0))])"#
    );
    let p = plan(&svc);
    let (engine, initial) = Engine::start(
        &p,
        EngineOptions {
            seed: 7,
            probers: 2,
        },
    )
    .unwrap();
    assert_eq!(initial.len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    let h = engine.health();
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].state, HealthState::Up);
    assert_eq!(h[0].detail, "ok");
    drop(l);
    let e = engine
        .events()
        .recv_timeout(Duration::from_secs(5))
        .expect("a down event");
    assert_eq!(e.cause, Cause::DestDown);
    assert_eq!(
        e.action,
        Action::Remove {
            rip: ip("127.0.0.1"),
            port
        }
    );
    assert_eq!(engine.health()[0].state, HealthState::Down);
    let resync = engine.reconfigure(p).unwrap();
    assert_eq!(
        resync[0].action,
        Action::Remove {
            rip: ip("127.0.0.1"),
            port
        }
    );
    assert_eq!(engine.resync().unwrap().len(), 1);
}
