//! Weighted overflow (`ip_vs_ovf.c`): new conns go to the highest-weight
//! dest until its active conns exceed its weight, then overflow to the next
//! highest. The weight doubles as a conn limit. First in list order wins a
//! tie.

use super::DestSet;

/// `ip_vs_ovf_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D) -> Option<usize> {
    let mut best: Option<usize> = None;
    for i in 0..dests.len() {
        let w = dests.weight(i);
        if dests.overloaded(i) || dests.active(i) > w || w == 0 {
            continue;
        }
        if best.map_or(true, |b| w > dests.weight(b)) {
            best = Some(i);
        }
    }
    best
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
