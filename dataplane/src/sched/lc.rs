//! Least-connection (`ip_vs_lc.c`): the available dest with the smallest
//! overhead (`active * 256 + inactive`); the first one in list order wins a
//! tie. Weights only matter as zero/non-zero.

use super::{packed_overhead, DestSet};

/// `ip_vs_lc_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    super::scan::least(dests, packed_overhead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn least_overhead_first_on_tie_ignoring_weight() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 1); 4];
        d[0].active = 1; // 256
        d[1].inactive = 300; // 300
        d[2].inactive = 255; // 255, least
        d[2].weight = 1;
        d[3].inactive = 255; // tie, later
        d[3].weight = 100;
        assert_eq!(pick(d.as_slice()), Some(2));
        d[2].overloaded = true;
        assert_eq!(pick(d.as_slice()), Some(3));
        d[3].weight = 0;
        assert_eq!(pick(d.as_slice()), Some(0));
    }
}
