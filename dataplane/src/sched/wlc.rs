//! Weighted least-connection (`ip_vs_wlc.c`), ipvsadm's default: the dest
//! with the smallest `overhead / weight`, compared without division as the
//! kernel does (`loh * w_dest > doh * w_least` means dest is better). The
//! first available dest in list order seeds the search, so it wins ties; a
//! weight-0 dest never wins because `loh * 0 > doh * w` is never true.

use super::{packed_overhead, DestSet};

/// `ip_vs_wlc_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    weighted_least(dests, packed_overhead)
}

/// The weighted-least search shared by wlc, sed, lblc and lblcr (their
/// `__ip_vs_*_schedule` bodies differ only in the overhead function, given
/// here on packed counts: [`super::pack_conns`]).
pub(crate) fn weighted_least<D: DestSet + ?Sized>(
    dests: &D,
    overhead: impl Fn(u64) -> u64,
) -> Option<usize> {
    super::scan::weighted_least(dests, overhead)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn overhead_per_weight_by_cross_multiplication() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 1); 3];
        d[0].weight = 1;
        d[0].active = 1; // 256 / 1
        d[1].weight = 3;
        d[1].active = 2; // 512 / 3 = 170.7, least
        d[2].weight = 2;
        d[2].active = 2;
        d[2].inactive = 1; // 513 / 2
        assert_eq!(pick(d.as_slice()), Some(1));
        // Tie 256/1 vs 512/2: the earlier dest stays.
        d[1].weight = 2;
        assert_eq!(pick(d.as_slice()), Some(0));
        // Quiesced and overloaded dests never win, even idle ones.
        let mut e = vec![DestView::new([10, 0, 0, 1].into(), 80, 5); 3];
        e[0].active = 10;
        e[1].weight = 0;
        e[2].overloaded = true;
        assert_eq!(pick(e.as_slice()), Some(0));
        e[0].overloaded = true;
        assert_eq!(pick(e.as_slice()), None);
    }
}
