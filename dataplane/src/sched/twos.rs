//! Weighted power of two choices (`ip_vs_twos.c`): draw two dests at random,
//! each with probability proportional to its weight, and take the one with
//! the smaller `overhead / weight` (choice 1 on a tie). Quiesced and
//! overloaded dests are never drawn.
//!
//! Randomness is injected: each worker's scheduler owns an [`XorShift64`]
//! seeded from the service's configured seed and the worker index, so runs
//! are reproducible in tests.

use super::DestSet;

/// Marsaglia's xorshift64* generator: tiny, fast, and good enough to draw
/// dests. Never yields from the all-zero state (the seed is remapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XorShift64 {
    state: u64,
}

impl XorShift64 {
    /// A generator from `seed` (any value; zero is replaced by a constant).
    pub const fn new(seed: u64) -> Self {
        XorShift64 {
            state: if seed == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                seed
            },
        }
    }

    /// The generator of `worker` for a service seeded with `seed`: seeds
    /// are spread by a SplitMix64 step so workers draw different sequences.
    pub const fn for_worker(seed: u64, worker: u16) -> Self {
        let mut z = seed.wrapping_add((worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Self::new(z ^ (z >> 31))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound > 0`), from the high bits: the high
    /// half of `x * bound`, a multiply where `x % bound` would divide (a
    /// 64-bit division costs more than the rest of a twos pick).
    pub fn below(&mut self, bound: u64) -> u64 {
        let x = u128::from(self.next_u64()) * u128::from(bound.max(1));
        u64::try_from(x >> 64).unwrap_or(0)
    }
}

/// `ip_vs_twos_schedule`.
pub fn pick<D: DestSet + ?Sized>(dests: &D, rng: &mut XorShift64) -> Option<usize> {
    // Conn counts are read for the two drawn dests only.
    let mut total = 0u64;
    dests.walk(false, |_, w, o, _| {
        total += if o { 0 } else { u64::from(w) };
        true
    });
    if total == 0 {
        return None;
    }
    // The kernel draws from [0, total] inclusive (total + 1 values).
    let r1 = rng.below(total + 1);
    let r2 = rng.below(total + 1);
    // The kernel walks the available dests subtracting each weight from r
    // and stops at the first whose weight is at least what is left of r:
    // the first available dest whose running (inclusive) weight sum reaches
    // r. For r = 0 that is the first available dest, which is also the
    // first to reach 1, so the search is for max(r, 1), and a dest that
    // reaches it always has weight > 0 (the sum steps up there). One walk
    // finds both draws: the smaller first, and it stops at the larger.
    let (lo, hi) = (r1.min(r2).max(1), r1.max(r2).max(1));
    let (mut first, mut second) = (None, None);
    let mut sum = 0u64;
    dests.walk(false, |i, w, o, _| {
        sum += if o { 0 } else { u64::from(w) };
        if first.is_none() && sum >= lo {
            first = Some(i);
        }
        if sum >= hi {
            second = Some(i);
            return false;
        }
        true
    });
    let (c1, c2) = if r1 <= r2 {
        (first, second)
    } else {
        (second, first)
    };
    let c1 = c1?;
    match c2 {
        Some(c2) => {
            let (w1, w2) = (u128::from(dests.weight(c1)), u128::from(dests.weight(c2)));
            // Choice 2 wins if its overhead per weight is smaller (exact in
            // u128 whatever the weights).
            if w2 * u128::from(dests.overhead(c1)) > w1 * u128::from(dests.overhead(c2)) {
                Some(c2)
            } else {
                Some(c1)
            }
        }
        None => Some(c1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::DestView;

    #[test]
    fn rng_is_deterministic_and_workers_differ() {
        let mut a = XorShift64::for_worker(42, 0);
        let mut b = XorShift64::for_worker(42, 0);
        let mut c = XorShift64::for_worker(42, 1);
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_eq!(x, y);
        assert_ne!(x, z);
        let mut zero = XorShift64::new(0);
        assert_ne!(zero.next_u64(), 0);
    }

    #[test]
    fn less_loaded_of_two_wins_and_unavailable_never_drawn() {
        let mut d = vec![DestView::new([10, 0, 0, 1].into(), 80, 1); 3];
        d[0].active = 100;
        d[1].weight = 0;
        d[2].overloaded = true;
        let mut rng = XorShift64::new(7);
        for _ in 0..100 {
            assert_eq!(pick(d.as_slice(), &mut rng), Some(0));
        }
        d[0].weight = 0;
        assert_eq!(pick(d.as_slice(), &mut rng), None);
    }
}
