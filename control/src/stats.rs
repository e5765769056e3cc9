//! Traffic counters and the IPVS rate estimator, per service and per dest.
//!
//! Workers count conns, packets and bytes single-writer; the daemon sums
//! them into a [`CounterSample`] (cumulative since start, keyed by service
//! id and dest slot) and hands it to [`StatsTable::tick`] every
//! [`ESTIMATOR_INTERVAL`]. The estimator is the kernel's (`ip_vs_est.c`):
//! every 2 seconds the difference since the last sample, scaled by 2^10 for
//! conns and packets and by 2^5 for bytes (and halved for the 2 s period),
//! goes into an EWMA with weight 2^-2; reading rounds the scaled value back.
//! `-Z` makes the current counters the new zero point and resets the rates
//! (`ip_vs_zero_stats`, `ip_vs_zero_estimator`).
//!
//! Beside the counters the sample carries one gauge per dest slot, the
//! persistence templates pointing at the dest (PersistConn); the table keeps
//! the latest sum as it is, since `-Z` does not touch it in IPVS either.

use crate::admin::{Rates, Stats};
use crate::state::State;
use std::collections::HashMap;
use std::time::Duration;

/// How often [`StatsTable::tick`] must be called: the kernel's 2 seconds.
pub const ESTIMATOR_INTERVAL: Duration = Duration::from_secs(2);

/// Cumulative counters from the workers, summed over workers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CounterSample {
    /// By service id.
    pub services: HashMap<u32, Stats>,
    /// By dest slot.
    pub dests: HashMap<u32, Stats>,
    /// Persistence templates by dest slot (a gauge).
    pub templates: HashMap<u32, u32>,
}

impl CounterSample {
    /// Adds one worker's counters of service `id`.
    pub fn add_service(&mut self, id: u32, c: &Stats) {
        add(self.services.entry(id).or_default(), c);
    }

    /// Adds one worker's counters of dest slot `slot`.
    pub fn add_dest(&mut self, slot: u32, c: &Stats) {
        add(self.dests.entry(slot).or_default(), c);
    }

    /// Adds one worker's persistence templates pointing at dest slot `slot`.
    pub fn add_templates(&mut self, slot: u32, n: u32) {
        if n > 0 {
            let t = self.templates.entry(slot).or_default();
            *t = t.saturating_add(n);
        }
    }
}

fn add(to: &mut Stats, c: &Stats) {
    to.conns = to.conns.wrapping_add(c.conns);
    to.inpkts = to.inpkts.wrapping_add(c.inpkts);
    to.outpkts = to.outpkts.wrapping_add(c.outpkts);
    to.inbytes = to.inbytes.wrapping_add(c.inbytes);
    to.outbytes = to.outbytes.wrapping_add(c.outbytes);
}

fn sub(a: &Stats, b: &Stats) -> Stats {
    Stats {
        conns: a.conns.wrapping_sub(b.conns),
        inpkts: a.inpkts.wrapping_sub(b.inpkts),
        outpkts: a.outpkts.wrapping_sub(b.outpkts),
        inbytes: a.inbytes.wrapping_sub(b.inbytes),
        outbytes: a.outbytes.wrapping_sub(b.outbytes),
    }
}

/// The kernel's `struct ip_vs_estimator`: last cumulative values and the
/// scaled averages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimator {
    last: Stats,
    cps: i64,
    inpps: i64,
    outpps: i64,
    inbps: i64,
    outbps: i64,
}

/// One EWMA step: `avg += (rate - avg) >> 2` in the kernel's signed
/// arithmetic.
fn ewma(avg: i64, rate: i64) -> i64 {
    avg + ((rate - avg) >> 2)
}

/// A counter difference scaled by `2^shift`, saturating instead of
/// wrapping so that a counter reset never gives a huge rate.
fn scaled(now: u64, last: u64, shift: u32) -> i64 {
    let d = now.saturating_sub(last);
    i64::try_from(d)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_i64 << shift)
}

/// Rounds a scaled average back (`(avg + 0x1FF) >> 10`, `(avg + 0xF) >> 5`).
fn read(avg: i64, round: i64, shift: u32) -> u64 {
    u64::try_from(avg.saturating_add(round) >> shift).unwrap_or(0)
}

impl Estimator {
    /// A fresh estimator whose zero point is `now`.
    pub fn starting_at(now: Stats) -> Self {
        Estimator {
            last: now,
            ..Estimator::default()
        }
    }

    /// One 2-second step with the cumulative counters `now`
    /// (`estimation_timer`): conns and packets scaled by 2^10/2 = 2^9,
    /// bytes by 2^5/2 = 2^4.
    pub fn step(&mut self, now: &Stats) {
        self.cps = ewma(self.cps, scaled(now.conns, self.last.conns, 9));
        self.inpps = ewma(self.inpps, scaled(now.inpkts, self.last.inpkts, 9));
        self.outpps = ewma(self.outpps, scaled(now.outpkts, self.last.outpkts, 9));
        self.inbps = ewma(self.inbps, scaled(now.inbytes, self.last.inbytes, 4));
        self.outbps = ewma(self.outbps, scaled(now.outbytes, self.last.outbytes, 4));
        self.last = *now;
    }

    /// The rates per second (`ip_vs_read_estimator`).
    pub fn rates(&self) -> Rates {
        Rates {
            cps: read(self.cps, 0x1FF, 10),
            inpps: read(self.inpps, 0x1FF, 10),
            outpps: read(self.outpps, 0x1FF, 10),
            inbps: read(self.inbps, 0xF, 5),
            outbps: read(self.outbps, 0xF, 5),
        }
    }
}

/// Counters and estimator of one service or dest.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Entry {
    total: Stats,
    zero: Stats,
    est: Estimator,
    /// For dests: the slot epoch the entry belongs to.
    epoch: u32,
}

impl Entry {
    fn fresh(now: Stats, epoch: u32) -> Self {
        Entry {
            total: now,
            zero: now,
            est: Estimator::starting_at(now),
            epoch,
        }
    }

    fn zero(&mut self) {
        self.zero = self.total;
        self.est = Estimator::starting_at(self.total);
    }
}

/// Counters since the last `-Z` and rates of every service and dest.
#[derive(Debug, Clone, Default)]
pub struct StatsTable {
    services: HashMap<u32, Entry>,
    dests: HashMap<u32, Entry>,
    /// Templates per dest slot, from the latest sample.
    templates: HashMap<u32, u32>,
}

impl StatsTable {
    /// An empty table.
    pub fn new() -> Self {
        StatsTable::default()
    }

    /// Records cumulative counters without an estimator step (for fresh
    /// numbers in a listing between ticks).
    pub fn record(&mut self, sample: &CounterSample, state: &State) {
        self.merge(sample, state, false);
    }

    /// Records cumulative counters and runs one estimator step; call every
    /// [`ESTIMATOR_INTERVAL`].
    pub fn tick(&mut self, sample: &CounterSample, state: &State) {
        self.merge(sample, state, true);
    }

    fn merge(&mut self, sample: &CounterSample, state: &State, step: bool) {
        self.templates.clone_from(&sample.templates);
        // Entries of services and dests that are gone are dropped; a slot
        // handed to a new dest (new epoch) starts over from the counters it
        // had when last seen under its old dest, so that what the new dest
        // did before this sample is counted (a never-used slot: from 0).
        self.services
            .retain(|id, _| state.service_by_id(*id).is_some());
        for (id, now) in &sample.services {
            if state.service_by_id(*id).is_none() {
                continue;
            }
            let e = self
                .services
                .entry(*id)
                .or_insert_with(|| Entry::fresh(Stats::default(), 0));
            e.total = *now;
            if step {
                e.est.step(now);
            }
        }
        for (slot, now) in &sample.dests {
            let epoch = state.slot_epoch(*slot);
            let e = self
                .dests
                .entry(*slot)
                .or_insert_with(|| Entry::fresh(Stats::default(), epoch));
            if e.epoch != epoch {
                *e = Entry::fresh(e.total, epoch);
            }
            e.total = *now;
            if step {
                e.est.step(now);
            }
        }
    }

    /// Persistence templates pointing at the dest in `slot`, all workers
    /// together, as of the latest sample.
    pub fn persist_conns(&self, slot: u32) -> u32 {
        self.templates.get(&slot).copied().unwrap_or(0)
    }

    /// `-Z` of one service: its counters and those of its dests.
    pub fn zero_service(&mut self, id: u32, slots: impl IntoIterator<Item = u32>) {
        if let Some(e) = self.services.get_mut(&id) {
            e.zero();
        }
        for s in slots {
            if let Some(e) = self.dests.get_mut(&s) {
                e.zero();
            }
        }
    }

    /// `-Z` of everything.
    pub fn zero_all(&mut self) {
        self.services.values_mut().for_each(Entry::zero);
        self.dests.values_mut().for_each(Entry::zero);
    }

    /// Counters since the last zeroing and rates of service `id`.
    pub fn service(&self, id: u32) -> (Stats, Rates) {
        self.services
            .get(&id)
            .map(|e| (sub(&e.total, &e.zero), e.est.rates()))
            .unwrap_or_default()
    }

    /// Counters since the last zeroing and rates of the dest in `slot`
    /// (epoch `epoch`; an older entry reads as zero).
    pub fn dest(&self, slot: u32, epoch: u32) -> (Stats, Rates) {
        self.dests
            .get(&slot)
            .filter(|e| e.epoch == epoch)
            .map(|e| (sub(&e.total, &e.zero), e.est.rates()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(conns: u64, pkts: u64, bytes: u64) -> Stats {
        Stats {
            conns,
            inpkts: pkts,
            outpkts: pkts / 2,
            inbytes: bytes,
            outbytes: bytes / 2,
        }
    }

    #[test]
    fn estimator_matches_hand_computed_kernel_values() {
        let mut e = Estimator::default();
        // 200 conns in 2 s = 100 cps. Scaled: 200 << 9 = 102400; the EWMA
        // moves a quarter of the way: 25600; read: (25600 + 511) >> 10 = 25.
        e.step(&stats(200, 2000, 200_000));
        let r = e.rates();
        assert_eq!(r.cps, 25);
        // inpps: 2000 << 9 = 1_024_000, /4 = 256_000, (256_000+511)>>10 = 250.
        assert_eq!(r.inpps, 250);
        assert_eq!(r.outpps, 125);
        // inbps: 200_000 << 4 = 3_200_000, /4 = 800_000, (800_000+15)>>5 = 25_000.
        assert_eq!(r.inbps, 25_000);
        assert_eq!(r.outbps, 12_500);
        // Second step at the same rate: avg = 25600 + (102400-25600)/4 = 44800
        // -> (44800 + 511) >> 10 = 44.
        e.step(&stats(400, 4000, 400_000));
        assert_eq!(e.rates().cps, 44);
        // Converges to the true rate at a steady 100 cps (the integer EWMA
        // stalls within 3 scaled units of it, which reads as exact).
        for i in 3..80u64 {
            e.step(&stats(200 * i, 2000 * i, 200_000 * i));
        }
        assert_eq!(e.rates().cps, 100);
        assert_eq!(e.rates().inbps, 100_000);
        // Traffic stops: the rate decays towards 0.
        for _ in 0..80 {
            e.step(&stats(200 * 79, 2000 * 79, 200_000 * 79));
        }
        assert_eq!(e.rates().cps, 0);
    }

    #[test]
    fn zero_resets_counters_and_rates_and_epochs_restart_slots() {
        use crate::admin::{PersistMask, Protocol, SchedFlags, ServiceKey, ServiceSpec};
        use crate::state::Limits;
        let mut st = State::new(Limits {
            workers: 1,
            max_dests: 2,
        });
        let key = ServiceKey::Addr {
            protocol: Protocol::Tcp,
            vip: "198.18.1.1".parse().unwrap(),
            port: 80,
        };
        st.add_service(&ServiceSpec {
            key,
            scheduler: "rr".into(),
            persistent: None,
            netmask: PersistMask::host(false),
            one_packet: false,
            sched_flags: SchedFlags::default(),
        })
        .unwrap();
        let id = st.service(&key).unwrap().id;
        let mut t = StatsTable::new();
        let mut s = CounterSample::default();
        s.add_service(id, &stats(10, 100, 1000));
        s.add_service(id, &stats(10, 100, 1000));
        s.add_dest(0, &stats(20, 200, 2000));
        t.tick(&s, &st);
        assert_eq!(t.service(id).0, stats(20, 200, 2000));
        assert_eq!(t.service(id).1.cps, 2); // (20<<9)/4 = 2560 -> (2560+511)>>10
        t.zero_service(id, [0]);
        assert_eq!(t.service(id), (Stats::default(), Rates::default()));
        let mut s2 = CounterSample::default();
        s2.add_service(id, &stats(25, 250, 2500));
        t.record(&s2, &st);
        assert_eq!(t.service(id).0, stats(5, 50, 500));
        t.zero_all();
        assert_eq!(t.service(id).0, Stats::default());
        // Slot 0 now belongs to a newly added dest (epoch 1): the old
        // numbers do not show.
        let d = crate::admin::DestSpec {
            rip: "10.0.0.2".parse().unwrap(),
            port: 80,
            fwd: crate::admin::FwdMethod::Masq,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
        };
        st.add_dest(&key, &d).unwrap();
        let epoch = st.slot_epoch(0);
        assert_eq!(t.dest(0, epoch).0, Stats::default());
        t.record(&s, &st);
        let mut s3 = CounterSample::default();
        s3.add_dest(0, &stats(21, 200, 2000));
        t.record(&s3, &st);
        assert_eq!(t.dest(0, epoch).0.conns, 1);
        // A deleted service's entry is dropped.
        st.del_service(&key).unwrap();
        t.record(&CounterSample::default(), &st);
        assert_eq!(t.service(id).0, Stats::default());
    }
}
