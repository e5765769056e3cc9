//! What one conn costs, everything included: its slab entry (a conn padded
//! to its own 64-byte cache line), its share of the bucketed index (room for
//! two entries per conn at half load, seven entries per 64-byte bucket) and
//! its share of the wheel heads. The target is 128 bytes per IPv4 conn.

use dataplane::conn::{table::WAYS, Conn, ConnAddr, ConnTable};
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Buckets the index must have for `capacity` conns: two entries per conn,
/// at most half of the ways used.
fn buckets(capacity: usize) -> usize {
    (4 * capacity).div_ceil(WAYS)
}

fn check<A: ConnAddr>(capacity: u32, limit: f64) -> f64 {
    let t = ConnTable::<A>::with_capacity(capacity, 1).unwrap();
    let n = capacity as usize;
    let b = buckets(n);
    // The honest computation must agree with what the table allocated.
    assert_eq!(t.index_buckets(), b, "capacity {capacity}");
    assert_eq!(t.index_bytes(), b * 64, "capacity {capacity}");
    let slot = ConnTable::<A>::slot_bytes();
    assert_eq!(slot % 64, 0, "a conn starts a cache line");
    assert!(slot < size_of::<Conn<A>>() + 64);
    let wheel = t.memory_bytes() - n * slot - t.index_bytes();
    let per_conn = t.memory_bytes() as f64 / n as f64;
    println!(
        "{}: capacity {capacity}: conn {} B in a {slot} B slot + index {:.1} B ({b} buckets) + wheel {:.2} B = {per_conn:.1} B",
        core::any::type_name::<A>(),
        size_of::<Conn<A>>(),
        t.index_bytes() as f64 / n as f64,
        wheel as f64 / n as f64,
    );
    assert!(
        per_conn <= limit,
        "{per_conn:.1} B per conn is over {limit}"
    );
    per_conn
}

#[test]
fn ipv4_conn_costs_at_most_128_bytes() {
    assert_eq!(size_of::<Conn<Ipv4Addr>>(), 56);
    assert_eq!(ConnTable::<Ipv4Addr>::slot_bytes(), 64);
    // The index grows linearly (no power-of-two rounding): the same cost
    // per conn at every size, with the default 32768-slot wheel.
    for cap in [1 << 18, 1_000_000, (1 << 20) + 1, 1 << 22] {
        check::<Ipv4Addr>(cap, 128.0);
    }
}

#[test]
fn ipv6_conn_cost_is_bounded_too() {
    // Four 16-byte addresses: 104-byte conns in 128-byte slots, about
    // 165 B per conn. Recorded here so a change that grows it is seen.
    assert!(size_of::<Conn<Ipv6Addr>>() <= 104);
    check::<Ipv6Addr>(1 << 20, 168.0);
}
