//! The control core's source of truth: the service table with IPVS's
//! semantics for every admin change, and the builder of the dataplane
//! snapshot the workers run.
//!
//! Every change (`ipvsadm -A -E -D -C -a -e -d --set`, and a config load,
//! which is the same requests in a row) is validated completely before
//! anything is touched, so a refused request changes nothing. The checks and
//! their errors follow `do_ip_vs_set_ctl`, `ip_vs_add_service`,
//! `ip_vs_edit_service`, `ip_vs_add_dest`, `ip_vs_edit_dest` and
//! `ip_vs_del_dest` in the kernel's `ip_vs_ctl.c`, and ipvsadm's own checks
//! where ipvsadm refuses before the kernel sees anything.
//!
//! Each service keeps its scheduler seed ([`SchedSeed`]) next to it and
//! rebuilds it only when its scheduler or its dests change, so a snapshot is
//! an assembly of existing `Arc`s and the workers keep their scheduler state
//! (rr cursor, lblc tables) for every service a change did not touch.
//!
//! Dests get a stable counter slot in the shared [`ConnCounts`]. A removed
//! dest's slot goes to a trash list (the kernel's `dest_trash`) until its
//! last conn is gone, and a dest re-added to the same service while in the
//! trash gets its slot back, as `ip_vs_trash_get_dest` revives the dest.

use crate::admin::{
    AdminError, DestSpec, FwdMethod, PersistMask, Protocol, ServiceKey, ServiceSpec, Timeouts,
    MAX_TIMEOUT,
};
use dataplane::conn::{Fwd, Proto};
use dataplane::sched::counts::ConnCounts;
use dataplane::sched::{SchedConfig, SchedFlags, SchedKind, SchedSeed};
use dataplane::service::{self as dp, MarkRule, Persistence, Services};
use dataplane::snapshot::{Interface, Snapshot};
use dataplane::stack::route::{Route, RouteError};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

/// The largest dest weight (`-w`), ipvsadm's limit.
pub const MAX_WEIGHT: u32 = 65_535;

/// The largest connection threshold (`-x`, `-y`): ipvsadm reads them as
/// non-negative `int`s.
pub const MAX_THRESHOLD: u32 = i32::MAX.unsigned_abs();

/// Sizes fixed when the daemon starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Worker count: rows of the shared conn counters.
    pub workers: usize,
    /// Dest counter slots: the most dests (live or still holding conns) at
    /// any time.
    pub max_dests: u32,
}

/// A dest of a service as the control core keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestEntry {
    /// Its settings (port already forced for DR/TUN).
    pub spec: DestSpec,
    /// Its counter slot.
    pub slot: u32,
    /// The last non-zero weight (the kernel's `dest->last_weight`).
    pub last_weight: u32,
}

/// A virtual service as the control core keeps it.
#[derive(Debug, Clone)]
pub struct ServiceEntry {
    /// Stable id, never reused while the daemon runs (stats are kept by id).
    pub id: u32,
    /// Its settings.
    pub spec: ServiceSpec,
    /// The dests in the kernel's `svc->destinations` order: the newest first
    /// (`list_add` at the head in `__ip_vs_update_dest`).
    pub dests: Vec<DestEntry>,
    /// The scheduler seed built from `spec` and `dests` (as of the last
    /// [`State::refresh_seeds`] when `seed_stale` is set).
    pub seed: Arc<SchedSeed>,
    /// The dests changed since `seed` was built. Seeds are rebuilt when a
    /// snapshot is built, not at every `-a`/`-e`/`-d`: a Maglev table per
    /// dest added would make loading 10 000 services take seconds.
    pub seed_stale: bool,
}

impl ServiceEntry {
    /// The dest with this address and port.
    pub fn dest(&self, rip: IpAddr, port: u16) -> Option<&DestEntry> {
        self.dests
            .iter()
            .find(|d| d.spec.rip == rip && d.spec.port == port)
    }
}

/// A removed dest whose slot still counts conns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Trashed {
    service: ServiceKey,
    rip: IpAddr,
    port: u16,
    slot: u32,
}

/// The dest counter slots: free, in use, or in the trash.
#[derive(Debug, Clone)]
struct Slots {
    free: Vec<u32>,
    trash: Vec<Trashed>,
    /// Bumped every time a slot is handed to a new dest, so that stats
    /// kept per slot know to start over.
    epochs: Vec<u32>,
}

impl Slots {
    fn new(max: u32) -> Self {
        Slots {
            // Popped from the end: slot 0 first.
            free: (0..max).rev().collect(),
            trash: Vec::new(),
            epochs: vec![0; usize::try_from(max).unwrap_or(0)],
        }
    }

    /// Moves trashed slots whose conns are all gone back to the free list
    /// (the kernel's `ip_vs_dest_trash_expire`).
    fn purge(&mut self, counts: &ConnCounts) {
        let free = &mut self.free;
        self.trash.retain(|t| {
            let gone = counts.total(usize::try_from(t.slot).unwrap_or(usize::MAX)) == 0;
            if gone {
                free.push(t.slot);
            }
            !gone
        });
    }

    fn bump(&mut self, slot: u32) {
        if let Some(e) = usize::try_from(slot)
            .ok()
            .and_then(|i| self.epochs.get_mut(i))
        {
            *e = e.wrapping_add(1);
        }
    }
}

/// The parts of a snapshot the daemon owns: its ports and static routes.
#[derive(Debug, Clone, Default)]
pub struct BaseParts {
    /// The interfaces, as the daemon brought them up.
    pub interfaces: Vec<Interface>,
    /// The static routes (connected routes come from the interfaces).
    pub routes: Vec<Route>,
}

/// Why a snapshot could not be built. With a [`State`] that only changed
/// through its own methods this is a routing problem in the base parts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The routes do not fit the interfaces.
    #[error("routes: {0}")]
    Route(RouteError),
    /// The service table was refused by the dataplane.
    #[error("services: {0}")]
    Service(dp::ServiceError),
    /// A scheduler could not be built for a service's dests.
    #[error("scheduler: {0}")]
    Seed(AdminError),
}

/// One admin change, the subset of [`crate::admin::Request`] that edits the
/// table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `-A`.
    AddService(ServiceSpec),
    /// `-E`.
    EditService(ServiceSpec),
    /// `-D`.
    DelService(ServiceKey),
    /// `-C`.
    Clear,
    /// `-a`.
    AddDest(ServiceKey, DestSpec),
    /// `-e`.
    EditDest(ServiceKey, DestSpec),
    /// `-d`.
    DelDest(ServiceKey, IpAddr, u16),
    /// `--set`.
    SetTimeouts(Timeouts),
}

/// The service table and everything else a snapshot needs from the control
/// core.
#[derive(Debug, Clone)]
pub struct State {
    limits: Limits,
    services: BTreeMap<u32, ServiceEntry>,
    by_key: HashMap<ServiceKey, u32>,
    next_id: u32,
    slots: Slots,
    counts: Arc<ConnCounts>,
    /// Mark classification rules by mark (from the config). Kept while the
    /// mark's service is absent, so `-D -f 7` then `-A -f 7` finds them.
    marks: BTreeMap<u32, Vec<MarkRule>>,
    laddrs: Vec<Ipv4Addr>,
    timeouts: dataplane::conn::Timeouts,
    expire_nodest_conn: bool,
}

impl State {
    /// An empty table with the kernel's default timeouts.
    pub fn new(limits: Limits) -> Self {
        let slots = usize::try_from(limits.max_dests).unwrap_or(0);
        State {
            limits,
            services: BTreeMap::new(),
            by_key: HashMap::new(),
            next_id: 1,
            slots: Slots::new(limits.max_dests),
            counts: Arc::new(ConnCounts::new(limits.workers.max(1), slots)),
            marks: BTreeMap::new(),
            laddrs: Vec::new(),
            timeouts: dataplane::conn::Timeouts::default(),
            expire_nodest_conn: false,
        }
    }

    /// The sizes this table was made with.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The shared conn counters (the same `Arc` in every snapshot).
    pub fn counts(&self) -> &Arc<ConnCounts> {
        &self.counts
    }

    /// The services, by id.
    pub fn services(&self) -> impl Iterator<Item = &ServiceEntry> {
        self.services.values()
    }

    /// Number of services.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The service with this key.
    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceEntry> {
        self.services.get(self.by_key.get(key)?)
    }

    /// The service with this id.
    pub fn service_by_id(&self, id: u32) -> Option<&ServiceEntry> {
        self.services.get(&id)
    }

    /// How many times `slot` has been handed to a new dest (stats restart
    /// when it changes).
    pub fn slot_epoch(&self, slot: u32) -> u32 {
        usize::try_from(slot)
            .ok()
            .and_then(|i| self.slots.epochs.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// Slots free for new dests right now.
    pub fn free_slots(&self) -> usize {
        self.slots.free.len()
    }

    /// The FullNAT local addresses.
    pub fn laddrs(&self) -> &[Ipv4Addr] {
        &self.laddrs
    }

    /// The conn timeouts.
    pub fn timeouts(&self) -> &dataplane::conn::Timeouts {
        &self.timeouts
    }

    /// `-L --timeout`: tcp, tcpfin, udp.
    pub fn shown_timeouts(&self) -> Timeouts {
        let (tcp, tcp_fin, udp) = self.timeouts.shown();
        Timeouts { tcp, tcp_fin, udp }
    }

    /// IPVS's `expire_nodest_conn`.
    pub fn expire_nodest_conn(&self) -> bool {
        self.expire_nodest_conn
    }

    /// Sets `expire_nodest_conn` (a sysctl in IPVS; config only here).
    pub fn set_expire_nodest_conn(&mut self, on: bool) {
        self.expire_nodest_conn = on;
    }

    /// The mark rules by mark.
    pub fn mark_rules(&self) -> &BTreeMap<u32, Vec<MarkRule>> {
        &self.marks
    }

    /// Replaces the rules of `mark` (empty removes them).
    pub fn set_mark_rules(&mut self, mark: u32, rules: Vec<MarkRule>) {
        if rules.is_empty() {
            self.marks.remove(&mark);
        } else {
            self.marks.insert(mark, rules);
        }
    }

    /// Replaces the FullNAT local addresses. Refused while a FullNAT dest
    /// exists and the list would be empty.
    pub fn set_laddrs(&mut self, laddrs: Vec<Ipv4Addr>) -> Result<(), AdminError> {
        if laddrs.is_empty() {
            let fullnat = self.services.values().find_map(|s| {
                s.dests
                    .iter()
                    .find(|d| d.spec.fwd == FwdMethod::FullNat)
                    .map(|d| (s.spec.key, d.spec))
            });
            if let Some((key, d)) = fullnat {
                return Err(AdminError::Unsupported(format!(
                    "FullNAT dest {} of service {} needs local addresses; keep `laddrs` non-empty",
                    dest_label(d.rip, d.port),
                    key_label(&key)
                )));
            }
        }
        for a in &laddrs {
            if !is_unicast(IpAddr::V4(*a)) {
                return Err(AdminError::Invalid(format!(
                    "local address {a} is not a unicast address"
                )));
            }
        }
        self.laddrs = laddrs;
        Ok(())
    }

    /// Applies one change with IPVS semantics. On error nothing changed.
    pub fn apply(&mut self, change: &Change) -> Result<(), AdminError> {
        match change {
            Change::AddService(spec) => self.add_service(spec),
            Change::EditService(spec) => self.edit_service(spec),
            Change::DelService(key) => self.del_service(key),
            Change::Clear => {
                self.clear();
                Ok(())
            }
            Change::AddDest(key, dest) => self.add_dest(key, dest),
            Change::EditDest(key, dest) => self.edit_dest(key, dest),
            Change::DelDest(key, rip, port) => self.del_dest(key, *rip, *port),
            Change::SetTimeouts(t) => self.set_timeouts(*t),
        }
    }

    /// `-A`.
    pub fn add_service(&mut self, spec: &ServiceSpec) -> Result<(), AdminError> {
        let sched = check_service(spec)?;
        if self.by_key.contains_key(&spec.key) {
            return Err(AdminError::ServiceExists);
        }
        let id = self.next_id;
        let next = id.checked_add(1).ok_or_else(|| {
            AdminError::Internal("service ids exhausted; restart rvsd".to_owned())
        })?;
        let seed = build_seed(sched, &[])?;
        self.next_id = next;
        self.by_key.insert(spec.key, id);
        self.services.insert(
            id,
            ServiceEntry {
                id,
                spec: spec.clone(),
                dests: Vec::new(),
                seed,
                seed_stale: false,
            },
        );
        Ok(())
    }

    /// `-E`: new scheduler, flags, persistence; dests and their slots stay.
    pub fn edit_service(&mut self, spec: &ServiceSpec) -> Result<(), AdminError> {
        let sched = check_service(spec)?;
        let svc = self.entry_mut(&spec.key, AdminError::NoSuchService)?;
        if *svc.seed.config() != sched {
            svc.seed = build_seed(sched, &seed_dests(&svc.dests))?;
            svc.seed_stale = false;
        }
        svc.spec = spec.clone();
        Ok(())
    }

    /// `-D`: the service and its dests go; the dests' slots to the trash.
    pub fn del_service(&mut self, key: &ServiceKey) -> Result<(), AdminError> {
        let id = self.by_key.remove(key).ok_or(AdminError::NoSuchService)?;
        if let Some(svc) = self.services.remove(&id) {
            for d in svc.dests {
                self.trash(*key, &d);
            }
        }
        Ok(())
    }

    /// `-C`.
    pub fn clear(&mut self) {
        let keys: Vec<ServiceKey> = self.by_key.keys().copied().collect();
        for k in keys {
            // Every key is present: it came from the index.
            let _ = self.del_service(&k);
        }
    }

    /// `-a`.
    pub fn add_dest(&mut self, key: &ServiceKey, dest: &DestSpec) -> Result<(), AdminError> {
        let laddrs_empty = self.laddrs.is_empty();
        let (dest, sched) = {
            let svc = self.entry(key, AdminError::ServiceNotDefined)?;
            let dest = check_dest(svc, dest, laddrs_empty)?;
            if svc.dest(dest.rip, dest.port).is_some() {
                return Err(AdminError::DestExists);
            }
            (dest, *svc.seed.config())
        };
        let revived = self
            .slots
            .trash
            .iter()
            .position(|t| t.service == *key && t.rip == dest.rip && t.port == dest.port);
        if revived.is_none() && self.slots.free.is_empty() {
            self.slots.purge(&self.counts);
        }
        let slot = match revived {
            Some(i) => self.slots.trash[i].slot,
            None => *self.slots.free.last().ok_or_else(|| {
                AdminError::Unsupported(format!(
                    "no free dest slot: {} dests exist or still hold conns; \
                     raise `max_dests` in the rvsd config",
                    self.limits.max_dests
                ))
            })?,
        };
        let svc = self.entry(key, AdminError::ServiceNotDefined)?;
        let mut dests = Vec::with_capacity(svc.dests.len() + 1);
        dests.push(DestEntry {
            spec: dest,
            slot,
            last_weight: dest.weight,
        });
        dests.extend(svc.dests.iter().cloned());
        check_dest_count(&dests)?;
        let _ = sched;
        // Validated; commit.
        match revived {
            Some(i) => {
                self.slots.trash.swap_remove(i);
            }
            None => {
                self.slots.free.pop();
                self.slots.bump(slot);
            }
        }
        let svc = self.entry_mut(key, AdminError::ServiceNotDefined)?;
        svc.dests = dests;
        svc.seed_stale = true;
        Ok(())
    }

    /// Rebuilds the scheduler seeds whose dests changed since they were
    /// built (keeping the `Arc` where the change left them equal);
    /// [`State::snapshot`] does it first.
    pub fn refresh_seeds(&mut self) -> Result<(), AdminError> {
        for svc in self.services.values_mut() {
            if svc.seed_stale {
                svc.seed = current_seed(svc)?;
                svc.seed_stale = false;
            }
        }
        Ok(())
    }

    /// `-e`: every field replaced; the slot and the list position stay.
    pub fn edit_dest(&mut self, key: &ServiceKey, dest: &DestSpec) -> Result<(), AdminError> {
        let laddrs_empty = self.laddrs.is_empty();
        let svc = self.entry(key, AdminError::ServiceNotDefined)?;
        let dest = check_dest(svc, dest, laddrs_empty)?;
        let i = svc
            .dests
            .iter()
            .position(|d| d.spec.rip == dest.rip && d.spec.port == dest.port)
            .ok_or(AdminError::NoSuchDest)?;
        let mut dests = svc.dests.clone();
        let old = &mut dests[i];
        old.spec = dest;
        if dest.weight > 0 {
            old.last_weight = dest.weight;
        }
        let svc = self.entry_mut(key, AdminError::ServiceNotDefined)?;
        svc.dests = dests;
        svc.seed_stale = true;
        Ok(())
    }

    /// `-d`: the dest's slot goes to the trash until its conns are gone.
    pub fn del_dest(&mut self, key: &ServiceKey, rip: IpAddr, port: u16) -> Result<(), AdminError> {
        let svc = self.entry(key, AdminError::ServiceNotDefined)?;
        let i = svc
            .dests
            .iter()
            .position(|d| d.spec.rip == rip && d.spec.port == port)
            .ok_or(AdminError::NoSuchDest)?;
        let mut dests = svc.dests.clone();
        let gone = dests.remove(i);
        let svc = self.entry_mut(key, AdminError::ServiceNotDefined)?;
        svc.dests = dests;
        svc.seed_stale = true;
        self.trash(*key, &gone);
        Ok(())
    }

    /// `--set tcp tcpfin udp`; 0 leaves a value unchanged.
    pub fn set_timeouts(&mut self, t: Timeouts) -> Result<(), AdminError> {
        for (name, v) in [("tcp", t.tcp), ("tcpfin", t.tcp_fin), ("udp", t.udp)] {
            if v > MAX_TIMEOUT {
                return Err(AdminError::Invalid(format!(
                    "illegal {name} timeout {v}: the most is {MAX_TIMEOUT} seconds"
                )));
            }
        }
        self.timeouts.set(t.tcp, t.tcp_fin, t.udp);
        Ok(())
    }

    fn trash(&mut self, service: ServiceKey, d: &DestEntry) {
        self.slots.trash.push(Trashed {
            service,
            rip: d.spec.rip,
            port: d.spec.port,
            slot: d.slot,
        });
    }

    /// Returns trashed slots whose conns are gone to the free list; the
    /// control loop may call it now and then (adds call it when short).
    pub fn purge_trash(&mut self) {
        self.slots.purge(&self.counts);
    }

    fn entry(&self, key: &ServiceKey, missing: AdminError) -> Result<&ServiceEntry, AdminError> {
        self.by_key
            .get(key)
            .and_then(|id| self.services.get(id))
            .ok_or(missing)
    }

    fn entry_mut(
        &mut self,
        key: &ServiceKey,
        missing: AdminError,
    ) -> Result<&mut ServiceEntry, AdminError> {
        match self.by_key.get(key) {
            Some(id) => self.services.get_mut(id).ok_or(missing),
            None => Err(missing),
        }
    }

    /// Builds the complete snapshot of generation `generation`: the daemon's
    /// interfaces and routes, and this table. Seeds are the services' own
    /// `Arc`s, so unchanged services keep their scheduler state on workers.
    pub fn snapshot(
        &mut self,
        generation: u64,
        base: &BaseParts,
    ) -> Result<Snapshot, SnapshotError> {
        self.refresh_seeds().map_err(SnapshotError::Seed)?;
        let mut snap = Snapshot::new(generation, base.interfaces.clone(), &base.routes)
            .map_err(SnapshotError::Route)?;
        let list = self
            .services
            .values()
            .map(|s| {
                let seed = Arc::clone(&s.seed);
                let dests = s
                    .dests
                    .iter()
                    .map(|d| dp::Dest {
                        addr: d.spec.rip,
                        port: d.spec.port,
                        weight: d.spec.weight,
                        fwd: fwd(d.spec.fwd),
                        u_threshold: d.spec.u_threshold,
                        l_threshold: d.spec.l_threshold,
                        slot: d.slot,
                    })
                    .collect();
                Ok(dp::Service::new(
                    s.id,
                    dp_key(&s.spec.key),
                    seed,
                    persistence(&s.spec),
                    dests,
                ))
            })
            .collect::<Result<Vec<_>, SnapshotError>>()?;
        // Only the rules of marks that have a service: a rule without one
        // would classify packets into nothing.
        let marks = self
            .marks
            .iter()
            .filter(|(m, _)| {
                self.by_key.contains_key(&ServiceKey::Fwmark {
                    mark: **m,
                    ipv6: false,
                })
            })
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        snap.services = Services::new(list, marks).map_err(SnapshotError::Service)?;
        snap.laddrs = self.laddrs.clone();
        snap.timeouts = self.timeouts;
        snap.counts = Arc::clone(&self.counts);
        snap.expire_nodest_conn = self.expire_nodest_conn;
        Ok(snap)
    }
}

/// The dataplane's key for an admin key (IPv6 is refused before a key gets
/// into the table).
fn dp_key(key: &ServiceKey) -> dp::ServiceKey {
    match *key {
        ServiceKey::Addr {
            protocol,
            vip,
            port,
        } => dp::ServiceKey::Addr {
            proto: match protocol {
                Protocol::Tcp => Proto::Tcp,
                Protocol::Udp => Proto::Udp,
            },
            vaddr: vip,
            vport: port,
        },
        ServiceKey::Fwmark { mark, .. } => dp::ServiceKey::Mark(mark),
    }
}

fn fwd(m: FwdMethod) -> Fwd {
    match m {
        FwdMethod::Masq => Fwd::Nat,
        FwdMethod::Route => Fwd::Dr,
        FwdMethod::Tunnel => Fwd::Tun,
        FwdMethod::FullNat => Fwd::FullNat,
    }
}

fn persistence(spec: &ServiceSpec) -> Option<Persistence> {
    let timeout = spec.persistent?;
    Some(Persistence {
        timeout: Duration::from_secs(u64::from(timeout)),
        netmask_len: mask_len(&spec.netmask).unwrap_or(32),
    })
}

/// The prefix length of a contiguous IPv4 mask.
fn mask_len(mask: &PersistMask) -> Option<u8> {
    match *mask {
        PersistMask::V4(m) => {
            let m = u32::from(m);
            let len = m.leading_ones();
            // Contiguous: every bit after the leading ones is zero.
            (m.checked_shl(len).unwrap_or(0) == 0).then(|| u8::try_from(len).unwrap_or(32))
        }
        PersistMask::V6(p) => Some(p),
    }
}

fn seed_dests(dests: &[DestEntry]) -> Vec<dataplane::sched::DestSpec> {
    dests
        .iter()
        .map(|d| dataplane::sched::DestSpec {
            addr: d.spec.rip,
            port: d.spec.port,
            weight: d.spec.weight,
            last_weight: d.last_weight,
        })
        .collect()
}

/// What `SchedSeed::new` would refuse about a dest list, checked without
/// building the seed.
fn check_dest_count(dests: &[DestEntry]) -> Result<(), AdminError> {
    if dests.len() > dataplane::sched::MAX_DESTS {
        return Err(AdminError::Invalid(format!(
            "a service has at most {} dests",
            dataplane::sched::MAX_DESTS
        )));
    }
    Ok(())
}

/// The seed `svc` runs with: its own when current, the one its dests call
/// for otherwise (the same `Arc` when they did not really change, so
/// workers keep their scheduler state).
fn current_seed(svc: &ServiceEntry) -> Result<Arc<SchedSeed>, AdminError> {
    let specs = seed_dests(&svc.dests);
    if !svc.seed_stale || specs == svc.seed.dests() {
        return Ok(Arc::clone(&svc.seed));
    }
    build_seed(*svc.seed.config(), &specs)
}

fn build_seed(
    config: SchedConfig,
    dests: &[dataplane::sched::DestSpec],
) -> Result<Arc<SchedSeed>, AdminError> {
    SchedSeed::new(config, dests)
        .map(Arc::new)
        .map_err(|e| AdminError::Invalid(e.to_string()))
}

fn sched_flags(f: crate::admin::SchedFlags) -> SchedFlags {
    let mut out = SchedFlags::NONE;
    for (on, bit) in [
        (f.flag1, SchedFlags::FLAG1),
        (f.flag2, SchedFlags::FLAG2),
        (f.flag3, SchedFlags::FLAG3),
    ] {
        if on {
            out = out.union(bit);
        }
    }
    out
}

/// The checks of `-A`/`-E` (ipvsadm's and `ip_vs_add_service`'s), giving the
/// scheduler configuration.
fn check_service(spec: &ServiceSpec) -> Result<SchedConfig, AdminError> {
    if spec.key.is_ipv6() {
        return Err(AdminError::Unsupported(
            "IPv6 virtual services are not supported yet".to_owned(),
        ));
    }
    match spec.key {
        ServiceKey::Fwmark { mark: 0, .. } => {
            return Err(AdminError::Invalid(
                "illegal virtual service firewall mark 0".to_owned(),
            ))
        }
        ServiceKey::Addr { vip, port, .. } => {
            if !is_unicast(vip) {
                return Err(AdminError::Invalid(format!(
                    "virtual address {vip} is not a unicast address"
                )));
            }
            // ipvsadm: port 0 means "all ports", which only makes sense
            // with persistence.
            if port == 0 && spec.persistent.is_none() {
                return Err(AdminError::Invalid(
                    "Zero port specified for non-persistent service".to_owned(),
                ));
            }
        }
        ServiceKey::Fwmark { .. } => {}
    }
    let kind: SchedKind = spec
        .scheduler
        .parse()
        .map_err(|_| AdminError::SchedulerNotFound)?;
    if let Some(t) = spec.persistent {
        if t == 0 || t > MAX_TIMEOUT {
            return Err(AdminError::Invalid(format!(
                "illegal timeout {t} for persistent service (1 to {MAX_TIMEOUT} seconds)"
            )));
        }
    }
    match spec.netmask {
        PersistMask::V4(_) if mask_len(&spec.netmask).is_some() => {}
        PersistMask::V4(_) => {
            return Err(AdminError::Invalid(
                "illegal virtual server persistent mask specified".to_owned(),
            ))
        }
        // The kernel's -EINVAL for an IPv6 netmask on an IPv4 service.
        PersistMask::V6(_) => {
            return Err(AdminError::Invalid(
                "illegal virtual server persistent mask specified".to_owned(),
            ))
        }
    }
    if spec.one_packet {
        return Err(AdminError::Unsupported(
            "one-packet scheduling (-o) is not supported by rvs".to_owned(),
        ));
    }
    Ok(SchedConfig::new(kind).with_flags(sched_flags(spec.sched_flags)))
}

/// The checks of `-a`/`-e` (`ip_vs_add_dest`, `ip_vs_new_dest`, ipvsadm),
/// giving the dest as it will be kept: DR and TUN cannot map ports, so the
/// dest port of an address service becomes the virtual port, as ipvsadm
/// does ("Don't worry about this if fwmark is used").
fn check_dest(
    svc: &ServiceEntry,
    dest: &DestSpec,
    laddrs_empty: bool,
) -> Result<DestSpec, AdminError> {
    let mut d = *dest;
    if d.rip.is_ipv6() {
        return Err(AdminError::Unsupported(
            "IPv6 real servers are not supported yet".to_owned(),
        ));
    }
    if !is_unicast(d.rip) {
        return Err(AdminError::Invalid(format!(
            "real server address {} is not a unicast address",
            d.rip
        )));
    }
    if d.weight > MAX_WEIGHT {
        return Err(AdminError::Invalid("illegal weight specified".to_owned()));
    }
    if d.u_threshold > MAX_THRESHOLD {
        return Err(AdminError::Invalid(
            "illegal u_threshold specified".to_owned(),
        ));
    }
    if d.l_threshold > MAX_THRESHOLD {
        return Err(AdminError::Invalid(
            "illegal l_threshold specified".to_owned(),
        ));
    }
    // ip_vs_add_dest/ip_vs_edit_dest: -ERANGE.
    if d.l_threshold > d.u_threshold {
        return Err(AdminError::Invalid(
            "lower threshold is higher than upper threshold".to_owned(),
        ));
    }
    if d.fwd == FwdMethod::FullNat && laddrs_empty {
        return Err(AdminError::Unsupported(
            "FullNAT needs local addresses: list them in `laddrs` in the rvsd config".to_owned(),
        ));
    }
    if let ServiceKey::Addr { port, .. } = svc.spec.key {
        if d.fwd.keeps_port() {
            d.port = port;
        }
    }
    Ok(d)
}

fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_multicast() || a.is_broadcast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// A service as errors and logs name it: `TCP 10.0.0.1:80`, `FWM 7`.
pub fn key_label(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Addr {
            protocol,
            vip: IpAddr::V6(a),
            port,
        } => format!("{} [{a}]:{port}", protocol.name()),
        ServiceKey::Addr {
            protocol,
            vip,
            port,
        } => format!("{} {vip}:{port}", protocol.name()),
        ServiceKey::Fwmark { mark, .. } => format!("FWM {mark}"),
    }
}

/// A dest as errors name it.
pub fn dest_label(rip: IpAddr, port: u16) -> String {
    match rip {
        IpAddr::V6(a) => format!("[{a}]:{port}"),
        IpAddr::V4(a) => format!("{a}:{port}"),
    }
}

#[cfg(test)]
mod tests;
