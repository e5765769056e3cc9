//! EAL with `--no-huge` and a `net_ring` vdev moves real mbufs through rx and
//! tx bursts. One EAL per process (DPDK's rule), so this binary holds one test.

use rvs::dpdk::{Burst, Eal, Mempool, Port, MAX_BURST};

fn pattern(i: u8, j: usize) -> u8 {
    i ^ u8::try_from(j & 0xff).unwrap()
}

#[test]
fn net_ring_moves_mbufs_through_bursts() {
    let prefix = format!("rvs-eal-ring-{}", std::process::id());
    let eal = Eal::init(&[
        "-l",
        "0",
        "--no-huge",
        "-m",
        "128",
        "--no-pci",
        "--no-shconf",
        "--file-prefix",
        &prefix,
        "--log-level",
        "lib.eal:warning",
    ])
    .expect("EAL starts without hugepages");
    let pool = Mempool::new("ring_test", 8191, 0, 2048 + 128).expect("pool");
    let mut port = Port::create_vdev("net_ring0", "").expect("net_ring0");
    port.configure(1, 256, 256, &pool).expect("configure");
    port.start().expect("start");
    let q = port.queue(0).expect("queue 0");
    assert!(port.queue(1).is_none());

    let before = pool.in_use();
    // Fill 32 mbufs with distinct frames; the ring port loops tx back to rx.
    let mut tx = Burst::new();
    for i in 0..32u8 {
        let mut m = pool.alloc().expect("mbuf");
        let data = m.append(60 + u16::from(i)).expect("tailroom");
        for (j, b) in data.iter_mut().enumerate() {
            *b = pattern(i, j);
        }
        tx.push(m).expect("burst has room");
    }
    assert_eq!(q.tx_burst(&mut tx), 32);
    assert!(tx.is_empty());

    let mut rx = Burst::new();
    for _ in 0..100 {
        q.rx_burst(&mut rx, 64);
        if rx.len() == 32 {
            break;
        }
    }
    assert_eq!(rx.len(), 32, "every frame came back");
    for (i, mut m) in rx.drain().enumerate() {
        let i = u8::try_from(i).unwrap();
        assert_eq!(m.len(), 60 + usize::from(i));
        assert!(m
            .data()
            .iter()
            .enumerate()
            .all(|(j, b)| *b == pattern(i, j)));
        // The dataplane's frame view over the mbuf: grow into the headroom
        // (as TUN encapsulation does) and check the mbuf follows.
        let head = m.headroom();
        m.with_frame(|f| {
            assert_eq!(f.len(), 60 + usize::from(i));
            f.prepend(20).unwrap();
            f.data_mut()[..20].fill(0xee);
        })
        .unwrap();
        assert_eq!(m.headroom(), head - 20);
        assert_eq!(m.len(), 80 + usize::from(i));
        assert!(m.data()[..20].iter().all(|b| *b == 0xee));
        assert!(m.adj(20));
        assert_eq!(m.data()[1], i ^ 1);
    }
    // Everything went back to the pool: the rx burst's mbufs were dropped.
    assert_eq!(pool.in_use(), before);

    let st = port.stats();
    assert_eq!(st.opackets, 32);
    assert_eq!(st.ipackets, 32);

    // A short tx burst never leaks: send until the ring behind the port is
    // full; what the port refused is freed at once, so the pool only misses
    // the mbufs the ring holds, and gets them all back once they are read.
    let mut queued = 0usize;
    for _ in 0..1000 {
        let mut b = Burst::new();
        for _ in 0..MAX_BURST {
            let mut m = pool.alloc().expect("mbuf");
            m.append(64).expect("tailroom").fill(0x5a);
            b.push(m).unwrap();
        }
        let sent = q.tx_burst(&mut b);
        queued += sent;
        assert_eq!(pool.in_use() as usize, before as usize + queued);
        if sent < MAX_BURST {
            break;
        }
    }
    assert!(
        queued > 0 && queued < 1000 * MAX_BURST,
        "the ring filled up"
    );
    let mut got = 0;
    for _ in 0..10_000 {
        let mut rx = Burst::new();
        let n = q.rx_burst(&mut rx, MAX_BURST);
        got += n;
        if n == 0 {
            break;
        }
    }
    assert_eq!(got, queued);
    assert_eq!(pool.in_use(), before);
    drop(port);
    drop(pool);
    drop(eal);
}
