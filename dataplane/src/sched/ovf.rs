//! Weighted overflow (`ip_vs_ovf.c`): new conns go to the highest-weight
//! dest until its active conns exceed its weight, then overflow to the next
//! highest. The weight doubles as a conn limit. First in list order wins a
//! tie.

use super::{packed_active, DestSet};

/// `ip_vs_ovf_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    // A dest overflows once its active conns exceed its weight.
    super::scan::highest_weight(dests, true, |w, conns| packed_active(conns) <= u64::from(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn overflows_when_active_exceeds_weight() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 2); 2];
        d[0].weight = 3;
        d[0].active = 3; // not above its weight yet
        assert_eq!(pick(d.as_slice()), Some(0));
        d[0].active = 4;
        assert_eq!(pick(d.as_slice()), Some(1));
        d[1].active = 3;
        assert_eq!(pick(d.as_slice()), None);
    }
}
