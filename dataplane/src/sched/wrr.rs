//! Weighted round-robin (`ip_vs_wrr.c`).
//!
//! The kernel keeps a "mark": the current list position `cl`, a current
//! weight `cw`, the step `di` (gcd of the positive weights) and `mw` (max
//! weight minus `di - 1`). Each pick walks on from `cl` and takes the first
//! dest, not overloaded, whose weight is `>= cw`; at the end of the list `cw`
//! drops by `di` and the walk starts again from the head; when `cw` reaches 0
//! it wraps to `mw`. Weights 1:2:3 thus give C B C A B C, repeated. The
//! `last_pass`/`stop` logic ends the search after every dest was tried with
//! `cw` down to 1, so an all-overloaded service answers `None` instead of
//! looping.

use super::{gcd, DestSet, DestSpec};

/// Per-worker wrr mark (`struct ip_vs_wrr_mark`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WrrState {
    /// Last dest picked; `None` is the list head.
    cl: Option<usize>,
    /// Current weight.
    cw: i64,
    /// Max weight minus (gcd - 1).
    mw: i64,
    /// Gcd of the positive weights (1 when there are none).
    di: i64,
}

/// `ip_vs_wrr_gcd_weight`: gcd of the positive weights, 1 if none.
fn gcd_weight(dests: &[DestSpec]) -> i64 {
    let g = dests
        .iter()
        .map(|d| d.weight)
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
    i64::from(if g == 0 { 1 } else { g })
}

/// `ip_vs_wrr_max_weight`.
fn max_weight(dests: &[DestSpec]) -> i64 {
    i64::from(dests.iter().map(|d| d.weight).max().unwrap_or(0))
}

impl WrrState {
    /// `ip_vs_wrr_init_svc`: cursor at the head, `cw = mw`.
    pub fn new(dests: &[DestSpec]) -> Self {
        let di = gcd_weight(dests);
        let mw = max_weight(dests) - (di - 1);
        WrrState {
            cl: None,
            cw: mw,
            mw,
            di,
        }
    }

    /// `ip_vs_wrr_dest_changed`: back to the head, recompute `di` and `mw`,
    /// and bring `cw` into the new range (rounded to the new gcd grid).
    pub fn dest_changed(&mut self, dests: &[DestSpec]) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di) * self.di + 1;
        }
    }

    /// `ip_vs_wrr_schedule`.
    pub fn pick<D: DestSet + ?Sized>(&mut self, dests: &D) -> Option<usize> {
        if self.mw <= 0 {
            return None;
        }
        let n = dests.len();
        let last = self.cl.filter(|&i| i < n);
        let mut pos = last;
        let mut stop: Option<usize> = None;
        let (mut last_pass, mut restarted) = (false, false);
        loop {
            let start = pos.map_or(0, |i| i + 1);
            for i in start..n {
                if !dests.overloaded(i) && i64::from(dests.weight(i)) >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None;
                }
            }
            // Walked off the end of the list: the kernel's cursor is the head.
            pos = None;
            self.cw -= self.di;
            if self.cw <= 0 {
                self.cw = self.mw;
                // Every dest was already tried with weight >= 1.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The first pass for w >= 1 only covered dests after `last`;
                // now cover those up to it.
                stop = last;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    fn views(weights: &[u32]) -> Vec<DestView> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| DestView::new([10, 0, 0, u8::try_from(i + 1).unwrap()].into(), 80, w))
            .collect()
    }

    fn specs(v: &[DestView]) -> Vec<DestSpec> {
        v.iter().map(DestView::spec).collect()
    }

    #[test]
    fn weights_4_3_2_by_hand() {
        // gcd 1, mw 4: cw=4 A; cw=3 A B; cw=2 A B C; cw=1 A B C.
        let d = views(&[4, 3, 2]);
        let mut s = WrrState::new(&specs(&d));
        let seq: Vec<_> = (0..18).map(|_| s.pick(d.as_slice()).unwrap()).collect();
        assert_eq!(seq, [0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn gcd_steps_weights_2_4() {
        // gcd 2, mw 4-1=3: cw=3 B; cw=1 A B; then wrap.
        let d = views(&[2, 4]);
        let mut s = WrrState::new(&specs(&d));
        let seq: Vec<_> = (0..6).map(|_| s.pick(d.as_slice()).unwrap()).collect();
        assert_eq!(seq, [1, 0, 1, 1, 0, 1]);
    }

    #[test]
    fn all_overloaded_or_quiesced_gives_none() {
        let mut d = views(&[1, 2, 3]);
        let mut s = WrrState::new(&specs(&d));
        assert_eq!(s.pick(d.as_slice()), Some(2));
        for v in &mut d {
            v.overloaded = true;
        }
        assert_eq!(s.pick(d.as_slice()), None);
        let z = views(&[0, 0]);
        let mut s = WrrState::new(&specs(&z));
        assert_eq!(s.pick(z.as_slice()), None);
    }

    #[test]
    fn overloaded_dest_is_skipped_and_rest_keep_ratio() {
        let mut d = views(&[1, 2, 3]);
        d[2].overloaded = true;
        let mut s = WrrState::new(&specs(&d));
        let mut hits = [0u32; 3];
        for _ in 0..600 {
            hits[s.pick(d.as_slice()).unwrap()] += 1;
        }
        assert_eq!(hits, [200, 400, 0]);
    }
}
