//! Round-robin (`ip_vs_rr.c`): walk the dest list from the dest after the last
//! one picked, take the first that has weight > 0 and is not overloaded.
//! Weights only matter as zero/non-zero.

use super::DestSet;

/// Per-worker rr cursor: the last dest picked, `None` meaning "the list
/// head" (the kernel's `svc->sched_data` pointing at `&svc->destinations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RrState {
    last: Option<usize>,
}

impl RrState {
    /// A cursor at the list head: the first pick tries dest 0 first.
    pub const fn new() -> Self {
        RrState { last: None }
    }

    /// Pick the next available dest after the last one picked, trying every
    /// dest once (the last one picked last); `None` if all are quiesced or
    /// overloaded. The cursor only moves on a hit, as in the kernel.
    pub fn pick<D: DestSet + ?Sized>(&mut self, dests: &D) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        let start = match self.last {
            Some(last) if last < n => last + 1,
            _ => 0,
        };
        for step in 0..n {
            let i = (start + step) % n;
            if dests.available(i) {
                self.last = Some(i);
                return Some(i);
            }
        }
        None
    }

    /// Follow the last dest picked to its new index after a dest-set change
    /// (`ip_vs_rr_del_dest` keeps the walk going from where it was); back to
    /// the head when that dest is gone.
    pub fn remap(self, map: impl Fn(usize) -> Option<usize>) -> Self {
        RrState {
            last: self.last.and_then(map),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    fn dests(weights: &[u32]) -> Vec<DestView> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| DestView::new([10, 0, 0, u8::try_from(i + 1).unwrap()].into(), 80, w))
            .collect()
    }

    #[test]
    fn cycles_in_list_order_skipping_quiesced_and_overloaded() {
        let mut d = dests(&[1, 0, 5, 1]);
        d[3].overloaded = true;
        let mut rr = RrState::new();
        let seq: Vec<_> = (0..5).map(|_| rr.pick(d.as_slice()).unwrap()).collect();
        assert_eq!(seq, [0, 2, 0, 2, 0]);
        d[3].overloaded = false;
        let seq: Vec<_> = (0..4).map(|_| rr.pick(d.as_slice()).unwrap()).collect();
        assert_eq!(seq, [2, 3, 0, 2]);
    }

    #[test]
    fn none_when_nothing_available_and_cursor_kept() {
        let mut d = dests(&[0, 1]);
        let mut rr = RrState::new();
        assert_eq!(rr.pick(d.as_slice()), Some(1));
        d[1].overloaded = true;
        assert_eq!(rr.pick(d.as_slice()), None);
        assert_eq!(rr.pick(dests(&[]).as_slice()), None);
        d[0].weight = 1;
        assert_eq!(rr.pick(d.as_slice()), Some(0));
    }
}
