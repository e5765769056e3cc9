//! The IPVS scheduler set, one module per scheduler.
//!
//! Every scheduler of Linux IPVS (`net/netfilter/ipvs/ip_vs_*.c`) is here with
//! the kernel's semantics: rr, wrr, lc, wlc, sed, nq, fo, ovf, lblc, lblcr, dh,
//! sh, mh and twos. A scheduler is asked to pick one of a service's dests for a
//! new conn; it answers with the dest's index in the service's dest list (the
//! order the kernel would walk `svc->destinations`) or `None` ("no destination
//! available").
//!
//! The work is split the way the rest of rvs is split:
//!
//! - [`SchedSeed`] is immutable and built on the control core from the
//!   service's [`SchedConfig`] and its dest list ([`DestSpec`]). It holds what
//!   depends only on the dest set: the sh and dh bucket tables and the Maglev
//!   lookup table ([`mh::build_mh_table`]), so no worker ever builds one.
//! - [`Scheduler`] is one worker's mutable state for one service (rr cursor,
//!   wrr mark, lblc/lblcr tables, the twos RNG) next to an `Arc` of its seed.
//!   When a new config snapshot arrives the worker calls
//!   [`Scheduler::carry_over`]: state is kept as is when the dests did not
//!   change, adjusted like the kernel's `add_dest/del_dest/upd_dest` hooks when
//!   they did, and rebuilt when the scheduler itself changed.
//! - Picks read connection counts and overload flags through the [`DestSet`]
//!   trait: a plain slice of [`DestView`] in tests, or
//!   [`counts::CountedDests`], which sums the per-worker counters of all
//!   workers without locks.
//!
//! - In rvsd's workers, lc, wlc, sed, nq, fo, ovf and twos answer from a
//!   [`tree::PickTree`] instead of walking the dests: a tournament tree kept
//!   up to date on every conn-count change, whose root is the walk's answer
//!   ([`Scheduler::pick_tree`]).
//!
//! Nothing here allocates, locks or reads a clock during a pick: time is passed
//! in and twos draws from a seeded [`twos::XorShift64`].

pub mod counts;
pub mod daddr_table;
pub mod dh;
pub mod fo;
pub mod lblc;
pub mod lblcr;
pub mod lc;
pub mod mh;
pub mod nq;
pub mod overload;
pub mod ovf;
pub mod rr;
pub(crate) mod scan;
pub mod sed;
pub mod sh;
pub mod tree;
pub mod twos;
pub mod wlc;
pub mod wrr;

use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;
use core::time::Duration;
use std::sync::Arc;

use crate::time::Time;

/// Marks "no dest" in the u16 bucket tables of sh, dh and mh.
pub(crate) const NO_DEST: u16 = u16::MAX;

/// Most dests a service may have: dest indices are stored as `u16` in the
/// bucket tables, `u16::MAX` meaning "none".
pub const MAX_DESTS: usize = NO_DEST as usize;

/// A dest as the scheduler's control side knows it: identity and weights.
/// Two snapshots whose services have equal `DestSpec` lists keep their
/// scheduler state ([`Scheduler::carry_over`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DestSpec {
    /// Real server address (RIP).
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Current weight, 0..=65535; 0 means quiesced (no new conns).
    pub weight: u32,
    /// The latest non-zero weight (the kernel's `dest->last_weight`): mh sizes
    /// a dest's share of the lookup table by it, so quiescing a dest (weight
    /// 0) does not reshuffle the table and restoring it brings the same
    /// clients back.
    pub last_weight: u32,
}

impl DestSpec {
    /// A dest with `last_weight == weight`, as when it is first added.
    pub const fn new(addr: IpAddr, port: u16, weight: u32) -> Self {
        DestSpec {
            addr,
            port,
            weight,
            last_weight: weight,
        }
    }
}

/// A dest as a pick sees it: weight, connection counts and the overload flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DestView {
    /// Real server address (RIP).
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Weight, 0..=65535; 0 means quiesced.
    pub weight: u32,
    /// Active conns (TCP ESTABLISHED and the like).
    pub active: u32,
    /// Inactive conns (everything else that is not a template).
    pub inactive: u32,
    /// The kernel's `IP_VS_DEST_F_OVERLOAD`, kept by [`overload::Thresholds`].
    pub overloaded: bool,
}

impl DestView {
    /// An idle, not overloaded dest.
    pub const fn new(addr: IpAddr, port: u16, weight: u32) -> Self {
        DestView {
            addr,
            port,
            weight,
            active: 0,
            inactive: 0,
            overloaded: false,
        }
    }

    /// The control-side identity of this dest.
    pub const fn spec(&self) -> DestSpec {
        DestSpec::new(self.addr, self.port, self.weight)
    }
}

/// What a pick reads about the service's dests. Index `i` is the position in
/// the service's dest list; callers guarantee `i < len()`.
pub trait DestSet {
    /// Number of dests.
    fn len(&self) -> usize;
    /// Weight of dest `i`.
    fn weight(&self, i: usize) -> u32;
    /// Active conns of dest `i`.
    fn active(&self, i: usize) -> u32;
    /// Inactive conns of dest `i`.
    fn inactive(&self, i: usize) -> u32;
    /// Whether dest `i` carries `IP_VS_DEST_F_OVERLOAD`.
    fn overloaded(&self, i: usize) -> bool;

    /// Whether the service has no dests.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `ip_vs_dest_conn_overhead`: an active conn is taken to cost 256 times
    /// an inactive one.
    fn overhead(&self, i: usize) -> u64 {
        (u64::from(self.active(i)) << 8) + u64::from(self.inactive(i))
    }

    /// Whether dest `i` may take a new conn at all: weight > 0, not
    /// overloaded. Most schedulers skip exactly these.
    fn available(&self, i: usize) -> bool {
        self.weight(i) > 0 && !self.overloaded(i)
    }

    /// Visit the dests in list order, calling `f(index, weight, overloaded,
    /// conns)` until it returns `false`; `conns` are the counts packed by
    /// [`pack_conns`] (0 when `with_conns` is false: fo and the twos draw do
    /// not read them). This is what the scanning schedulers (lc, wlc, sed,
    /// nq, fo, ovf, twos, the lblc family) walk: one inlined loop with no
    /// per-dest call or bounds check. Implementations that can read faster
    /// than one accessor call per field override it; at most [`MAX_SCAN`]
    /// dests are visited.
    #[inline(always)]
    fn walk<F: FnMut(usize, u32, bool, u64) -> bool>(&self, with_conns: bool, mut f: F) {
        for i in 0..self.len().min(MAX_SCAN) {
            let conns = if with_conns {
                pack_conns(self.active(i), self.inactive(i))
            } else {
                0
            };
            if !f(i, self.weight(i), self.overloaded(i), conns) {
                return;
            }
        }
    }
}

/// The most dests a walk visits ([`DestSet::walk`]). [`SchedSeed`] refuses
/// more than [`MAX_DESTS`], so this only bounds a walk over a [`DestSet`]
/// that is not a service's.
pub const MAX_SCAN: usize = 1 << 23;

/// Packs a dest's conn counts as `active << 32 | inactive`, the layout of
/// the shared counters and of what [`DestSet::walk`] hands out.
#[inline(always)]
pub const fn pack_conns(active: u32, inactive: u32) -> u64 {
    ((active as u64) << 32) | inactive as u64
}

/// Active conns of counts packed by [`pack_conns`].
#[inline(always)]
pub const fn packed_active(conns: u64) -> u64 {
    conns >> 32
}

/// `ip_vs_dest_conn_overhead` of counts packed by [`pack_conns`]: `active *
/// 256 + inactive`, below 2^41.
#[inline(always)]
pub const fn packed_overhead(conns: u64) -> u64 {
    ((conns >> 32) << 8) + (conns & 0xffff_ffff)
}

impl DestSet for [DestView] {
    fn len(&self) -> usize {
        <[DestView]>::len(self)
    }
    fn weight(&self, i: usize) -> u32 {
        self[i].weight
    }
    fn active(&self, i: usize) -> u32 {
        self[i].active
    }
    fn inactive(&self, i: usize) -> u32 {
        self[i].inactive
    }
    fn overloaded(&self, i: usize) -> bool {
        self[i].overloaded
    }
    #[inline(always)]
    fn walk<F: FnMut(usize, u32, bool, u64) -> bool>(&self, with_conns: bool, mut f: F) {
        for (i, d) in self.iter().take(MAX_SCAN).enumerate() {
            let conns = if with_conns {
                pack_conns(d.active, d.inactive)
            } else {
                0
            };
            if !f(i, d.weight, d.overloaded, conns) {
                return;
            }
        }
    }
}

/// The part of a new conn's first packet that schedulers hash or look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SchedKey {
    /// Client address: sh and mh hash it.
    pub caddr: IpAddr,
    /// Client port: hashed by sh/mh with `sh-port`/`mh-port`; 0 for protocols
    /// without ports (the kernel only reads ports of TCP, UDP and SCTP).
    pub cport: u16,
    /// The packet's destination address (the VIP, or the original
    /// destination for fwmark cache clusters): dh, lblc and lblcr use it.
    pub daddr: IpAddr,
    /// The packet's destination port.
    pub dport: u16,
}

macro_rules! sched_kinds {
    ($($(#[doc = $doc:literal])* $name:ident => $label:literal,)*) => {
        /// The scheduler of a service, named as ipvsadm `-s` names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum SchedKind {
            $($(#[doc = $doc])* $name,)*
        }

        impl SchedKind {
            /// Every scheduler.
            pub const ALL: &'static [SchedKind] = &[$(SchedKind::$name,)*];

            /// The ipvsadm name (`-s NAME`).
            pub const fn name(self) -> &'static str {
                match self {
                    $(SchedKind::$name => $label,)*
                }
            }
        }
    };
}

sched_kinds! {
    /// Round-robin.
    Rr => "rr",
    /// Weighted round-robin.
    Wrr => "wrr",
    /// Least-connection.
    Lc => "lc",
    /// Weighted least-connection (the ipvsadm default).
    Wlc => "wlc",
    /// Shortest expected delay.
    Sed => "sed",
    /// Never queue.
    Nq => "nq",
    /// Weighted failover.
    Fo => "fo",
    /// Weighted overflow.
    Ovf => "ovf",
    /// Locality-based least-connection.
    Lblc => "lblc",
    /// Locality-based least-connection with replication.
    Lblcr => "lblcr",
    /// Destination hashing.
    Dh => "dh",
    /// Source hashing.
    Sh => "sh",
    /// Maglev hashing.
    Mh => "mh",
    /// Weighted power of two choices.
    Twos => "twos",
}

impl Default for SchedKind {
    /// ipvsadm's default scheduler.
    fn default() -> Self {
        SchedKind::Wlc
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SchedKind {
    type Err = SchedError;

    fn from_str(s: &str) -> Result<Self, SchedError> {
        SchedKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == s)
            .ok_or_else(|| SchedError::UnknownScheduler(s.to_owned()))
    }
}

/// The scheduler flags of a service (ipvsadm `-b`), as the kernel's
/// `IP_VS_SVC_F_SCHED1..3` bits: sh and mh read flag 1 as "fallback" and
/// flag 2 as "port".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SchedFlags(u8);

impl SchedFlags {
    /// No flags.
    pub const NONE: SchedFlags = SchedFlags(0);
    /// `IP_VS_SVC_F_SCHED1` (`flag-1`, `sh-fallback`, `mh-fallback`).
    pub const FLAG1: SchedFlags = SchedFlags(1);
    /// `IP_VS_SVC_F_SCHED2` (`flag-2`, `sh-port`, `mh-port`).
    pub const FLAG2: SchedFlags = SchedFlags(2);
    /// `IP_VS_SVC_F_SCHED3` (`flag-3`).
    pub const FLAG3: SchedFlags = SchedFlags(4);

    /// Both flag sets together.
    #[must_use]
    pub const fn union(self, other: SchedFlags) -> SchedFlags {
        SchedFlags(self.0 | other.0)
    }

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: SchedFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// sh/mh: when the hashed dest is unavailable, look for another one.
    pub const fn fallback(self) -> bool {
        self.contains(Self::FLAG1)
    }

    /// sh/mh: hash the client port as well as the client address.
    pub const fn port(self) -> bool {
        self.contains(Self::FLAG2)
    }

    /// Parse ipvsadm's comma-separated `--sched-flags` list for scheduler
    /// `kind`: `flag-1,flag-2,flag-3` for any scheduler, `sh-fallback` and
    /// `sh-port` only with sh, `mh-fallback` and `mh-port` only with mh.
    pub fn parse(list: &str, kind: SchedKind) -> Result<SchedFlags, SchedError> {
        let mut flags = SchedFlags::NONE;
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let (flag, only) = match name {
                "flag-1" => (Self::FLAG1, None),
                "flag-2" => (Self::FLAG2, None),
                "flag-3" => (Self::FLAG3, None),
                "sh-fallback" => (Self::FLAG1, Some(SchedKind::Sh)),
                "sh-port" => (Self::FLAG2, Some(SchedKind::Sh)),
                "mh-fallback" => (Self::FLAG1, Some(SchedKind::Mh)),
                "mh-port" => (Self::FLAG2, Some(SchedKind::Mh)),
                _ => return Err(SchedError::UnknownFlag(name.to_owned())),
            };
            if let Some(only) = only {
                if only != kind {
                    return Err(SchedError::IncompatibleFlag {
                        flag: name.to_owned(),
                        kind,
                    });
                }
            }
            flags = flags.union(flag);
        }
        Ok(flags)
    }

    /// The flag names as ipvsadm lists them for scheduler `kind`.
    pub fn names(self, kind: SchedKind) -> impl Iterator<Item = &'static str> {
        let names: [&'static str; 3] = match kind {
            SchedKind::Sh => ["sh-fallback", "sh-port", "flag-3"],
            SchedKind::Mh => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        };
        let bits = self.0;
        names
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| bits & (1 << i) != 0)
            .map(|(_, n)| n)
    }
}

/// Why a scheduler could not be set up. Control-plane errors: each says what
/// was wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchedError {
    /// The scheduler name is not one IPVS knows.
    UnknownScheduler(String),
    /// The scheduler flag is not one ipvsadm knows.
    UnknownFlag(String),
    /// A scheduler-specific flag was given for another scheduler.
    IncompatibleFlag {
        /// The flag as given.
        flag: String,
        /// The service's scheduler.
        kind: SchedKind,
    },
    /// The Maglev table size is not one of the kernel's primes.
    BadMhTableSize(u32),
    /// More dests than the tables can index, or than the Maglev table has
    /// slots (the kernel refuses that with -EINVAL too).
    TooManyDests {
        /// Dests given.
        dests: usize,
        /// The limit for this scheduler.
        max: usize,
    },
}

impl fmt::Display for SchedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedError::UnknownScheduler(name) => {
                write!(f, "unknown scheduler \"{name}\"; expected one of ")?;
                for (i, k) in SchedKind::ALL.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{k}")?;
                }
                Ok(())
            }
            SchedError::UnknownFlag(name) => write!(
                f,
                "unknown scheduler flag \"{name}\"; expected flag-1, flag-2, flag-3, \
                 sh-fallback, sh-port, mh-fallback or mh-port"
            ),
            SchedError::IncompatibleFlag { flag, kind } => {
                write!(
                    f,
                    "scheduler flag \"{flag}\" does not apply to scheduler {kind}"
                )
            }
            SchedError::BadMhTableSize(size) => write!(
                f,
                "Maglev table size {size} is not one of the supported primes {:?}",
                mh::MH_TABLE_PRIMES
            ),
            SchedError::TooManyDests { dests, max } => {
                write!(
                    f,
                    "{dests} dests is more than this scheduler can hold ({max})"
                )
            }
        }
    }
}

impl std::error::Error for SchedError {}

/// Default of the kernel's `lblc_expiration` and `lblcr_expiration` sysctls.
pub const DEFAULT_LOCALITY_EXPIRATION: Duration = Duration::from_secs(24 * 60 * 60);

/// A service's scheduler configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchedConfig {
    /// Which scheduler.
    pub kind: SchedKind,
    /// sh/mh flags.
    pub flags: SchedFlags,
    /// Maglev lookup table size: one of [`mh::MH_TABLE_PRIMES`].
    pub mh_table_size: u32,
    /// lblc: how long an unused daddr entry lives; lblcr: also how long a
    /// dest set stays unmodified before its most loaded member is dropped.
    pub locality_expiration: Duration,
    /// Seed of the twos RNG (mixed with the worker index).
    pub seed: u64,
}

impl SchedConfig {
    /// `kind` with no flags and the kernel's defaults.
    pub const fn new(kind: SchedKind) -> Self {
        SchedConfig {
            kind,
            flags: SchedFlags::NONE,
            mh_table_size: mh::MH_TABLE_SIZE_DEFAULT,
            locality_expiration: DEFAULT_LOCALITY_EXPIRATION,
            seed: 0x5eed_0000_0001,
        }
    }

    /// The same configuration with `flags`.
    #[must_use]
    pub const fn with_flags(mut self, flags: SchedFlags) -> Self {
        self.flags = flags;
        self
    }
}

/// Tables that depend only on the dest set, built on the control core.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SeedTable {
    None,
    Sh(sh::ShTable),
    Dh(dh::DhTable),
    Mh(mh::MhTable),
}

/// The immutable, shareable part of a service's scheduler: configuration,
/// dest identities and the sh/dh/mh tables. Built on the control core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedSeed {
    config: SchedConfig,
    dests: Box<[DestSpec]>,
    table: SeedTable,
}

impl SchedSeed {
    /// Build the seed of a service with scheduler `config` and `dests` (in
    /// the service's dest-list order). Allocates; control core only.
    pub fn new(config: SchedConfig, dests: &[DestSpec]) -> Result<SchedSeed, SchedError> {
        if dests.len() > MAX_DESTS {
            return Err(SchedError::TooManyDests {
                dests: dests.len(),
                max: MAX_DESTS,
            });
        }
        let table = match config.kind {
            SchedKind::Sh => SeedTable::Sh(sh::ShTable::build(dests)),
            SchedKind::Dh => SeedTable::Dh(dh::DhTable::build(dests)),
            SchedKind::Mh => SeedTable::Mh(mh::build_mh_table(dests, config.mh_table_size)?),
            _ => SeedTable::None,
        };
        Ok(SchedSeed {
            config,
            dests: dests.into(),
            table,
        })
    }

    /// The configuration this seed was built from.
    pub fn config(&self) -> &SchedConfig {
        &self.config
    }

    /// The dests this seed was built for.
    pub fn dests(&self) -> &[DestSpec] {
        &self.dests
    }

    /// The Maglev table, for an mh service.
    pub fn mh_table(&self) -> Option<&mh::MhTable> {
        match &self.table {
            SeedTable::Mh(t) => Some(t),
            _ => None,
        }
    }
}

/// One worker's mutable scheduler state for one service.
#[derive(Debug, Clone)]
enum State {
    Stateless,
    Rr(rr::RrState),
    Wrr(wrr::WrrState),
    Lblc(lblc::LblcTable),
    Lblcr(lblcr::LblcrTable),
    Twos(twos::XorShift64),
}

impl State {
    fn new(seed: &SchedSeed, worker: u16) -> State {
        match seed.config.kind {
            SchedKind::Rr => State::Rr(rr::RrState::new()),
            SchedKind::Wrr => State::Wrr(wrr::WrrState::new(&seed.dests)),
            SchedKind::Lblc => State::Lblc(lblc::LblcTable::new(seed.config.locality_expiration)),
            SchedKind::Lblcr => {
                State::Lblcr(lblcr::LblcrTable::new(seed.config.locality_expiration))
            }
            SchedKind::Twos => State::Twos(twos::XorShift64::for_worker(seed.config.seed, worker)),
            SchedKind::Lc
            | SchedKind::Wlc
            | SchedKind::Sed
            | SchedKind::Nq
            | SchedKind::Fo
            | SchedKind::Ovf
            | SchedKind::Dh
            | SchedKind::Sh
            | SchedKind::Mh => State::Stateless,
        }
    }
}

/// A service's scheduler on one worker: the shared seed plus this worker's
/// state. `pick` never allocates, locks or blocks.
#[derive(Debug, Clone)]
pub struct Scheduler {
    seed: Arc<SchedSeed>,
    state: State,
    worker: u16,
}

impl Scheduler {
    /// Fresh state for `worker` (allocates the lblc/lblcr tables; do it when
    /// a snapshot is installed, never per packet).
    pub fn new(seed: Arc<SchedSeed>, worker: u16) -> Scheduler {
        let state = State::new(&seed, worker);
        Scheduler {
            seed,
            state,
            worker,
        }
    }

    /// The seed in use.
    pub fn seed(&self) -> &Arc<SchedSeed> {
        &self.seed
    }

    /// Move to `new` (the service's seed in a new config snapshot).
    ///
    /// - Same configuration and same dests: every bit of state is kept (the
    ///   rr cursor continues, lblc entries stay).
    /// - Same scheduler, other dests: state is adjusted as the kernel's
    ///   `add_dest/del_dest/upd_dest` hooks do (wrr recomputes gcd and max
    ///   weight; rr keeps its place by dest identity; lblc/lblcr keep their
    ///   entries for dests that still exist).
    /// - Otherwise: fresh state, as `ipvsadm -E -s` gives.
    pub fn carry_over(self, new: Arc<SchedSeed>) -> Scheduler {
        let Scheduler {
            seed: old,
            state,
            worker,
        } = self;
        if Arc::ptr_eq(&old, &new) || *old == *new {
            return Scheduler {
                seed: new,
                state,
                worker,
            };
        }
        if old.config != new.config {
            return Scheduler::new(new, worker);
        }
        let remap = |i: usize| remap_index(&old.dests, &new.dests, i);
        let state = match state {
            State::Rr(s) => State::Rr(s.remap(remap)),
            State::Wrr(mut s) => {
                s.dest_changed(&new.dests);
                State::Wrr(s)
            }
            State::Lblc(mut t) => {
                t.remap(remap);
                State::Lblc(t)
            }
            State::Lblcr(mut t) => {
                t.remap(remap);
                State::Lblcr(t)
            }
            other @ (State::Stateless | State::Twos(_)) => other,
        };
        Scheduler {
            seed: new,
            state,
            worker,
        }
    }

    /// Pick a dest for a new conn with `key`, or `None` when no dest is
    /// available. `dests` must describe the seed's dest list (same length,
    /// same order); if it does not, indices out of range are never returned.
    pub fn pick<D: DestSet + ?Sized>(
        &mut self,
        dests: &D,
        key: &SchedKey,
        now: Time,
    ) -> Option<usize> {
        let flags = self.seed.config.flags;
        let pick = match (&mut self.state, &self.seed.table) {
            (State::Rr(s), _) => s.pick(dests),
            (State::Wrr(s), _) => s.pick(dests),
            (State::Lblc(t), _) => t.pick(dests, &key.daddr, now),
            (State::Lblcr(t), _) => t.pick(dests, &key.daddr, now),
            (State::Twos(rng), _) => twos::pick(dests, rng),
            (State::Stateless, SeedTable::Sh(t)) => t.pick(dests, key, flags),
            (State::Stateless, SeedTable::Dh(t)) => t.pick(dests, &key.daddr),
            (State::Stateless, SeedTable::Mh(t)) => t.pick(dests, key, flags),
            (State::Stateless, SeedTable::None) => match self.seed.config.kind {
                SchedKind::Lc => lc::pick(dests),
                SchedKind::Wlc => wlc::pick(dests),
                SchedKind::Sed => sed::pick(dests),
                SchedKind::Nq => nq::pick(dests),
                SchedKind::Fo => fo::pick(dests),
                SchedKind::Ovf => ovf::pick(dests),
                _ => None,
            },
        };
        pick.filter(|&i| i < dests.len())
    }

    /// The pick of lc, wlc, sed, nq, fo, ovf or twos from a worker's
    /// [`tree::PickTree`] of the service's dests (built for this seed's
    /// scheduler: [`tree::Order::of`]): the same answer as [`Scheduler::pick`]
    /// over the counts the tree holds, without walking the dests. `None`
    /// also when the tree was built for another scheduler.
    pub fn pick_tree(&mut self, tree: &tree::PickTree) -> Option<usize> {
        if tree::Order::of(self.seed.config.kind) != Some(tree.order()) {
            return None;
        }
        match &mut self.state {
            State::Twos(rng) => tree.draw_two(rng),
            _ => tree.best(),
        }
    }

    /// The lblc/lblcr garbage collector, to be called every
    /// [`lblc::CHECK_EXPIRE_INTERVAL`] (the kernel's periodic timer). No-op
    /// for other schedulers.
    pub fn expire(&mut self, now: Time) {
        match &mut self.state {
            State::Lblc(t) => t.check_expire(now),
            State::Lblcr(t) => t.check_expire(now),
            _ => {}
        }
    }
}

/// Where dest `i` of `old` sits in `new`, by address and port.
fn remap_index(old: &[DestSpec], new: &[DestSpec], i: usize) -> Option<usize> {
    let d = old.get(i)?;
    new.iter()
        .position(|n| n.addr == d.addr && n.port == d.port)
}

/// Greatest common divisor (the kernel's `gcd()` from `lib/math/gcd.c`).
pub(crate) fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

/// The kernel's `hash_32()`: multiply by the 32-bit golden ratio, keep the top
/// `bits` bits. `bits` is 1..=32.
pub(crate) const fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// The kernel's address fold for hashing: the IPv4 address in host order, or
/// the XOR of an IPv6 address's four 32-bit words.
pub(crate) fn addr_fold(addr: &IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(*a),
        IpAddr::V6(a) => {
            let o = a.octets();
            let w = |i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            w(0) ^ w(4) ^ w(8) ^ w(12)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_is_an_error() {
        for k in SchedKind::ALL {
            assert_eq!(k.name().parse::<SchedKind>(), Ok(*k));
        }
        assert_eq!(SchedKind::ALL.len(), 14);
        let err = "wlcx".parse::<SchedKind>().unwrap_err();
        assert_eq!(err, SchedError::UnknownScheduler("wlcx".into()));
        let msg = err.to_string();
        assert!(
            msg.contains("\"wlcx\"") && msg.contains("twos") && msg.contains("mh"),
            "{msg}"
        );
    }

    #[test]
    fn flags_parse_like_ipvsadm() {
        let f = SchedFlags::parse("sh-fallback,sh-port", SchedKind::Sh).unwrap();
        assert!(f.fallback() && f.port());
        let f = SchedFlags::parse("mh-port", SchedKind::Mh).unwrap();
        assert!(!f.fallback() && f.port());
        assert_eq!(
            SchedFlags::parse("flag-1", SchedKind::Mh).unwrap(),
            SchedFlags::FLAG1
        );
        assert_eq!(
            SchedFlags::parse("", SchedKind::Rr).unwrap(),
            SchedFlags::NONE
        );
        assert!(matches!(
            SchedFlags::parse("sh-port", SchedKind::Mh),
            Err(SchedError::IncompatibleFlag { .. })
        ));
        assert!(matches!(
            SchedFlags::parse("sh-bogus", SchedKind::Sh),
            Err(SchedError::UnknownFlag(_))
        ));
        let names: Vec<_> = SchedFlags::FLAG1
            .union(SchedFlags::FLAG2)
            .names(SchedKind::Mh)
            .collect();
        assert_eq!(names, ["mh-fallback", "mh-port"]);
    }

    #[test]
    fn hash_32_matches_the_kernel_constant() {
        assert_eq!(hash_32(1, 32), 0x61C8_8647);
        assert_eq!(hash_32(1, 8), 0x61);
    }

    #[test]
    fn v6_fold_xors_words() {
        let a: IpAddr = "1:2:3:4:5:6:7:8".parse().unwrap();
        assert_eq!(
            addr_fold(&a),
            0x0001_0002 ^ 0x0003_0004 ^ 0x0005_0006 ^ 0x0007_0008
        );
        let b: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(addr_fold(&b), 0x0a00_0001);
    }
}
