//! Never queue (`ip_vs_nq.c`): an idle dest (no active conns) is taken at
//! once, the first one in list order; otherwise it behaves as sed.

use super::scan::Least;
use super::{packed_active, DestSet};

/// `ip_vs_nq_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    // In list order: the first idle available dest ends the walk; until one
    // shows up the sed search runs alongside.
    let mut least = Least::new();
    let mut idle = None;
    dests.walk(true, |i, w, o, conns| {
        let active = packed_active(conns);
        if w != 0 && !o && active == 0 {
            idle = Some(i);
            return false;
        }
        least.offer(i, w, o, active + 1);
        true
    });
    idle.or(least.finish())
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
