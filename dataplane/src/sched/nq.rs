//! Never queue (`ip_vs_nq.c`): an idle dest (no active conns) is taken at
//! once, the first one in list order; otherwise it behaves as sed.

use super::DestSet;

/// `ip_vs_nq_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    let mut least: Option<(usize, u64)> = None;
    for i in 0..dests.len() {
        if !dests.available(i) {
            continue;
        }
        let active = dests.active(i);
        // An idle server: no queueing at all.
        if active == 0 {
            return Some(i);
        }
        let doh = u64::from(active) + 1;
        let better = least.map_or(true, |(l, loh)| {
            loh * u64::from(dests.weight(i)) > doh * u64::from(dests.weight(l))
        });
        if better {
            least = Some((i, doh));
        }
    }
    least.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn idle_dest_first_then_sed() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 1); 3];
        d[0].active = 1;
        d[0].weight = 100;
        d[1].active = 0; // idle, weight 1: taken despite the weights
        d[2].active = 0;
        assert_eq!(pick(d.as_slice()), Some(1));
        d[1].active = 5; // 6/1
        d[2].active = 1; // 2/1
        assert_eq!(pick(d.as_slice()), Some(0)); // 2/100
        d[0].overloaded = true;
        assert_eq!(pick(d.as_slice()), Some(2));
    }
}
