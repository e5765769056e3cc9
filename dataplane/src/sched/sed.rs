//! Shortest expected delay (`ip_vs_sed.c`): like wlc but the overhead is
//! `active + 1` (the expected delay of the new conn on that dest), inactive
//! conns ignored.

use super::wlc::weighted_least;
use super::{packed_active, DestSet};

/// `ip_vs_sed_dest_overhead` of packed counts: active conns + 1.
fn sed_overhead(conns: u64) -> u64 {
    packed_active(conns) + 1
}

/// `ip_vs_sed_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    weighted_least(dests, sed_overhead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn expected_delay_ignores_inactive() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 1); 2];
        d[0].weight = 1; // (0+1)/1 = 1
        d[0].inactive = 1000;
        d[1].weight = 3;
        d[1].active = 2; // (2+1)/3 = 1: tie, first stays
        assert_eq!(pick(d.as_slice()), Some(0));
        d[1].weight = 4; // 3/4 < 1
        assert_eq!(pick(d.as_slice()), Some(1));
    }
}
