//! What one conn costs, everything included: its slab entry, its two words in
//! the hashbrown index (data and control byte per bucket, at the bucket count
//! hashbrown really picks for the table's reservation) and its share of the
//! wheel heads. The target is 128 bytes per IPv4 conn.

use dataplane::conn::{Conn, ConnAddr, ConnTable};
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr};

/// hashbrown's bucket count for a reservation of `items` (`capacity_to_buckets`:
/// 8/7 of the items, rounded up to a power of two, for 15 items and more).
fn buckets(items: usize) -> usize {
    (items * 8 / 7).next_power_of_two()
}

/// hashbrown's allocation for `buckets` buckets of 4-byte words: the data
/// padded to the control alignment, a control byte per bucket and one
/// trailing group (`group` is 16 with SSE2, 8 on portable/NEON builds).
fn index_bytes(buckets: usize, group: usize) -> usize {
    (buckets * size_of::<u32>()).next_multiple_of(group) + buckets + group
}

/// The largest capacity before the index doubles: the worst bytes per conn.
/// The table reserves `4 * capacity + 2` words (see table.rs); with
/// `k` = log2(buckets), the largest fitting capacity is (7 * 2^k / 8 - 2) / 4,
/// and one more conn doubles the buckets.
fn worst_capacity(k: u32) -> u32 {
    ((7u32 << k) / 8 - 2) / 4 + 1
}

fn check<A: ConnAddr>(capacity: u32, limit: f64) -> f64 {
    let t = ConnTable::<A>::with_capacity(capacity, 1).unwrap();
    let n = capacity as usize;
    let b = buckets(4 * n + 2);
    // The honest computation must agree with what hashbrown allocated.
    let real = t.index_bytes();
    assert!(
        index_bytes(b, 8) <= real && real <= index_bytes(b, 16),
        "capacity {capacity}: computed {}..{} index bytes, hashbrown has {real}",
        index_bytes(b, 8),
        index_bytes(b, 16)
    );
    let wheel = t.memory_bytes() - n * size_of::<Conn<A>>() - real;
    let per_conn = t.memory_bytes() as f64 / n as f64;
    println!(
        "{}: capacity {capacity}: conn {} B + index {:.1} B ({b} buckets) + wheel {:.2} B = {per_conn:.1} B",
        core::any::type_name::<A>(),
        size_of::<Conn<A>>(),
        real as f64 / n as f64,
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
    // Best and worst rounding of the index at two sizes, with the default
    // 32768-slot wheel.
    let worst = check::<Ipv4Addr>(worst_capacity(20), 128.0);
    let best = check::<Ipv4Addr>(worst_capacity(20) - 1, 128.0);
    assert!(worst > best + 20.0, "the worst case doubles the index");
    check::<Ipv4Addr>(worst_capacity(22), 128.0);
    check::<Ipv4Addr>(1 << 20, 128.0);
}

#[test]
fn ipv6_conn_cost_is_bounded_too() {
    // Four 16-byte addresses: 104-byte conns, so about 150 B per conn at the
    // worst index rounding. Recorded here so a change that grows it is seen.
    assert!(size_of::<Conn<Ipv6Addr>>() <= 104);
    check::<Ipv6Addr>(worst_capacity(20), 152.0);
}
