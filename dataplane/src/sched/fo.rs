//! Weighted failover (`ip_vs_fo.c`): all new conns go to the available dest
//! with the highest weight; the first one in list order wins a tie. Lowering
//! the active dest's weight (or its overload) fails over to the next.

use super::DestSet;

/// `ip_vs_fo_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    // Conn counts play no part, so two cheap walks beat one with a
    // best-so-far: the highest available weight (a plain max, no branch),
    // then the first available dest that has it.
    let mut hw = 0;
    dests.walk(false, |_, w, o, _| {
        hw = hw.max(if o { 0 } else { w });
        true
    });
    if hw == 0 {
        return None;
    }
    let mut best = None;
    dests.walk(false, |i, w, o, _| {
        if !o && w == hw {
            best = Some(i);
            return false;
        }
        true
    });
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn highest_weight_first_on_tie() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 1); 4];
        d[1].weight = 7;
        d[2].weight = 7;
        d[1].active = 1000;
        assert_eq!(pick(d.as_slice()), Some(1));
        d[1].overloaded = true;
        assert_eq!(pick(d.as_slice()), Some(2));
        for v in &mut d {
            v.weight = 0;
        }
        assert_eq!(pick(d.as_slice()), None);
    }
}
