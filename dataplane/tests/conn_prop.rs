//! Property test: random sequences of creations, removals, packets and
//! expiry keep the conn table in agreement with a plain HashMap model.

use dataplane::conn::{
    ConnConfig, ConnId, ConnTable, Dir, Fwd, InsertError, NewConn, Proto, TableConfig, TcpFlags,
    Tuple, WheelConfig,
};
use dataplane::Time;
use proptest::prelude::*;
use std::collections::HashMap;
use std::net::Ipv4Addr;

const CAPACITY: u32 = 24;

#[derive(Debug, Clone)]
enum Op {
    /// Create a conn for client `c`, method `m`, LIP port `l`.
    Insert { c: u8, m: u8, l: u8 },
    /// Remove the `i`-th live conn (modulo their number).
    Remove { i: u8 },
    /// A packet on the `i`-th live conn.
    Packet { i: u8, out: bool, flags: u8 },
    /// Advance the clock by `ms` and expire with a budget.
    Tick { ms: u16, budget: u8 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..40, 0u8..4, 0u8..8).prop_map(|(c, m, l)| Op::Insert { c, m, l }),
        1 => any::<u8>().prop_map(|i| Op::Remove { i }),
        3 => (any::<u8>(), any::<bool>(), any::<u8>()).prop_map(|(i, out, flags)| Op::Packet { i, out, flags }),
        2 => (0u16..20_000, 1u8..40).prop_map(|(ms, budget)| Op::Tick { ms, budget }),
    ]
}

fn new_conn(c: u8, m: u8, l: u8) -> NewConn<Ipv4Addr> {
    let fwd = [Fwd::Nat, Fwd::FullNat, Fwd::Dr, Fwd::Tun][usize::from(m)];
    let proto = if c % 5 == 0 { Proto::Udp } else { Proto::Tcp };
    NewConn {
        proto,
        fwd,
        caddr: Ipv4Addr::new(198, 51, 100, c % 8),
        cport: 1000 + u16::from(c / 8),
        vaddr: Ipv4Addr::new(192, 0, 2, 1),
        vport: 80,
        laddr: Ipv4Addr::new(10, 1, 0, 1),
        lport: 5000 + u16::from(l),
        daddr: Ipv4Addr::new(10, 2, 0, 1),
        dport: 80,
        service: 0,
        dest: 0,
    }
}

/// What the model knows of a live conn.
#[derive(Debug, Clone, Copy)]
struct Model {
    keys: [Option<Tuple<Ipv4Addr>>; 2],
    expires: Time,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn table_agrees_with_a_hashmap(ops in proptest::collection::vec(op(), 1..200)) {
        let cfg = ConnConfig::default();
        // Nanosecond ticks make expiry exact, so the model can predict it.
        let mut t: ConnTable<Ipv4Addr> = ConnTable::new(TableConfig {
            capacity: CAPACITY, seed: 42,
            wheel: WheelConfig { tick_shift: 0, slots: 256 }, start: Time::ZERO,
        }).unwrap();
        let bytes = t.memory_bytes();
        let mut model: HashMap<ConnId, Model> = HashMap::new();
        let mut keys: HashMap<Tuple<Ipv4Addr>, (ConnId, Dir)> = HashMap::new();
        let mut now = Time::ZERO;
        // Work owed to expiry: the model only expects what is due to be gone
        // once a call with an unbounded budget ran.
        for op in ops {
            match op {
                Op::Insert { c, m, l } => {
                    let n = new_conn(c, m, l);
                    let ink = Tuple { proto: n.proto, saddr: n.caddr, sport: n.cport, daddr: n.vaddr, dport: n.vport };
                    let outk = match n.fwd {
                        Fwd::Nat => Some(Tuple { proto: n.proto, saddr: n.daddr, sport: n.dport, daddr: n.caddr, dport: n.cport }),
                        Fwd::FullNat => Some(Tuple { proto: n.proto, saddr: n.daddr, sport: n.dport, daddr: n.laddr, dport: n.lport }),
                        Fwd::Dr | Fwd::Tun => None,
                    };
                    let taken = keys.contains_key(&ink) || outk.is_some_and(|k| k == ink || keys.contains_key(&k));
                    let r = t.insert(&n, now, &cfg);
                    if taken {
                        prop_assert_eq!(r, Err(InsertError::Exists));
                    } else if model.len() == CAPACITY as usize {
                        prop_assert_eq!(r, Err(InsertError::Full));
                    } else {
                        let id = r.unwrap();
                        prop_assert!(!model.contains_key(&id));
                        keys.insert(ink, (id, Dir::In));
                        if let Some(k) = outk { keys.insert(k, (id, Dir::Out)); }
                        model.insert(id, Model { keys: [Some(ink), outk], expires: t.get(id).unwrap().expires() });
                    }
                }
                Op::Remove { i } => {
                    let mut ids: Vec<_> = model.keys().copied().collect();
                    ids.sort();
                    if ids.is_empty() { continue; }
                    let id = ids[usize::from(i) % ids.len()];
                    prop_assert!(t.remove(id).is_some());
                    let m = model.remove(&id).unwrap();
                    for k in m.keys.into_iter().flatten() { keys.remove(&k); }
                }
                Op::Packet { i, out, flags } => {
                    let mut ids: Vec<_> = model.keys().copied().collect();
                    ids.sort();
                    if ids.is_empty() { continue; }
                    let id = ids[usize::from(i) % ids.len()];
                    let dir = if out && model[&id].keys[1].is_some() { Dir::Out } else { Dir::In };
                    let tr = t.on_packet(id, dir, TcpFlags::from_bits_truncate(flags), now, &cfg).unwrap();
                    let e = Time::from_nanos(now.as_nanos() + tr.timeout_nanos);
                    prop_assert_eq!(t.get(id).unwrap().expires(), e);
                    model.get_mut(&id).unwrap().expires = e;
                }
                Op::Tick { ms, budget } => {
                    now = Time::from_nanos(now.as_nanos() + u64::from(ms) * 1_000_000 * 50);
                    // A bounded call first, then drain: nothing due survives,
                    // nothing not due goes.
                    let mut gone = Vec::new();
                    t.expire(now, u32::from(budget), |c| gone.push(c.tuple(Dir::In)));
                    t.expire(now, u32::MAX, |c| gone.push(c.tuple(Dir::In)));
                    let mut due: Vec<_> = model.iter().filter(|(_, m)| m.expires <= now).map(|(id, m)| (*id, m.keys[0].unwrap())).collect();
                    due.sort_by_key(|(id, _)| *id);
                    let mut want: Vec<_> = due.iter().map(|(_, k)| *k).collect();
                    want.sort_by_key(|k| (k.saddr, k.sport));
                    gone.sort_by_key(|k| (k.saddr, k.sport));
                    prop_assert_eq!(&gone, &want);
                    for (id, _) in due {
                        let m = model.remove(&id).unwrap();
                        for k in m.keys.into_iter().flatten() { keys.remove(&k); }
                    }
                }
            }
            // The table agrees with the model after every step.
            prop_assert_eq!(t.len() as usize, model.len());
            prop_assert_eq!(t.index_len(), keys.len());
            for (k, (id, dir)) in &keys {
                let hit = t.lookup(k);
                prop_assert_eq!(hit.map(|h| (h.id, h.dir)), Some((*id, *dir)));
            }
            for id in model.keys() {
                prop_assert!(t.get(*id).is_some());
            }
            prop_assert_eq!(t.iter().count(), model.len());
            prop_assert_eq!(t.memory_bytes(), bytes);
        }
    }
}
