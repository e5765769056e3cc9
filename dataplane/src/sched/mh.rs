//! Maglev hashing (`ip_vs_mh.c`, after section 3.4 of the Maglev paper,
//! NSDI '16): each dest gets a preference list (a permutation of the lookup
//! table's slots from two hashes of its address and port), and the table is
//! filled by letting the dests claim their next preferred free slot in turns,
//! a dest taking `last_weight / gcd` turns per round (shifted right when the
//! weights are large, as the kernel does). A client address (and with
//! `mh-port` its port) hashes to a slot; removing one of N dests moves only
//! the clients of that dest plus a small share of others.
//!
//! The table is sized by a prime; the kernel's default
//! (`CONFIG_IP_VS_MH_TAB_INDEX` = 12) is 4093 slots, and any of the kernel's
//! primes can be chosen ([`MH_TABLE_PRIMES`]). Hashes are the kernel's: SipHash
//! 1-3 (what `hsiphash` is on 64-bit hosts) keyed with the kernel's fixed
//! keys, so an rvs director and a Linux director with the same dest list and
//! table size make the same choice.
//!
//! [`build_mh_table`] runs on the control core; workers only look up.

use super::{addr_fold, gcd, DestSet, DestSpec, SchedError, SchedFlags, SchedKey, NO_DEST};

/// The table sizes the kernel offers (`primes[]`), indexed by
/// `CONFIG_IP_VS_MH_TAB_INDEX - 8`.
pub const MH_TABLE_PRIMES: [u32; 10] = [
    251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071,
];

/// The kernel's default table size (`CONFIG_IP_VS_MH_TAB_INDEX` = 12).
pub const MH_TABLE_SIZE_DEFAULT: u32 = 4093;

/// `generate_hash_secret`: the kernel's fixed SipHash keys.
const HASH1: (u64, u64) = (2_654_435_761, 2_654_435_761);
const HASH2: (u64, u64) = (2_654_446_892, 2_654_446_892);

/// A built Maglev lookup table: slot -> dest index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MhTable {
    size: u32,
    lookup: Box<[u16]>,
}

/// One SipHash round.
fn sipround(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// SipHash-C-D of `msg` under key `(k0, k1)`.
fn siphash<const C: usize, const D: usize>(k0: u64, k1: u64, msg: &[u8]) -> u64 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ k0,
        0x646f_7261_6e64_6f6d ^ k1,
        0x6c79_6765_6e65_7261 ^ k0,
        0x7465_6462_7974_6573 ^ k1,
    ];
    let mut words = msg.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        let m = u64::from_le_bytes(b);
        v[3] ^= m;
        for _ in 0..C {
            sipround(&mut v);
        }
        v[0] ^= m;
    }
    let mut tail = [0u8; 8];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    // The length byte wraps at 256, as in the reference.
    tail[7] = msg.len().to_le_bytes()[0];
    let b = u64::from_le_bytes(tail);
    v[3] ^= b;
    for _ in 0..C {
        sipround(&mut v);
    }
    v[0] ^= b;
    v[2] ^= 0xff;
    for _ in 0..D {
        sipround(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// The kernel's `hsiphash` on 64-bit hosts: SipHash-1-3, truncated to 32 bits.
fn hsiphash(key: (u64, u64), v: u32) -> u32 {
    // Truncation to the low 32 bits is what hsiphash returns.
    #[allow(clippy::cast_possible_truncation)]
    let h = siphash::<1, 3>(key.0, key.1, &v.to_le_bytes()) as u32;
    h
}

/// `ip_vs_mh_hashkey`.
fn hashkey(addr: &core::net::IpAddr, port: u16, key: (u64, u64), offset: u32) -> u32 {
    let v = offset
        .wrapping_add(u32::from(port))
        .wrapping_add(addr_fold(addr));
    hsiphash(key, v)
}

/// Build the lookup table of `size` slots (one of [`MH_TABLE_PRIMES`]) for
/// `dests` in list order (`ip_vs_mh_permutate` + `ip_vs_mh_populate`).
/// Control core only: it allocates and costs O(size) or more.
pub fn build_mh_table(dests: &[DestSpec], size: u32) -> Result<MhTable, SchedError> {
    let index = MH_TABLE_PRIMES
        .iter()
        .position(|&p| p == size)
        .ok_or(SchedError::BadMhTableSize(size))?;
    // IP_VS_MH_TAB_SIZE fits any target's usize.
    let slots = size as usize;
    let max = slots.min(super::MAX_DESTS);
    if dests.len() > max {
        return Err(SchedError::TooManyDests {
            dests: dests.len(),
            max,
        });
    }
    let mut lookup = vec![NO_DEST; slots].into_boxed_slice();

    // ip_vs_mh_gcd_weight over last_weight, and ip_vs_mh_shift_weight.
    let g = dests
        .iter()
        .map(|d| d.last_weight)
        .filter(|&w| w > 0)
        .fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
    if g == 0 {
        // No dests, or all last weights zero: an empty table.
        return Ok(MhTable { size, lookup });
    }
    // IP_VS_MH_TAB_BITS = CONFIG_IP_VS_MH_TAB_INDEX / 2, index = CONFIG - 8.
    let tab_bits = (u32::try_from(index).unwrap_or(0) + 8) / 2;
    let mw = dests.iter().map(|d| d.last_weight).max().unwrap_or(0) / g;
    let fls = u32::BITS - mw.leading_zeros();
    let rshift = fls.saturating_sub(tab_bits);

    struct Setup {
        perm: u32,
        skip: u32,
        turns: u32,
    }
    let mut setup: Vec<Setup> = dests
        .iter()
        .map(|d| {
            let offset = hashkey(&d.addr, d.port, HASH1, 0) % size;
            let skip = hashkey(&d.addr, d.port, HASH2, 0) % (size - 1) + 1;
            let lw = d.last_weight;
            let turns = match (lw / g) >> rshift {
                0 => u32::from(lw != 0),
                t => t,
            };
            Setup {
                perm: offset,
                skip,
                turns,
            }
        })
        .collect();

    let mut taken = vec![false; slots];
    let (mut n, mut dt_count) = (0usize, 0u32);
    // Each round walks the dest list once; g > 0 guarantees a dest with
    // turns >= 1, so every round fills at least one slot.
    'fill: while n < slots {
        let mut p = 0;
        while p < dests.len() {
            let ds = &mut setup[p];
            if ds.turns < 1 {
                p += 1;
                continue;
            }
            // perm < size: a valid slot.
            let mut c = ds.perm as usize;
            while taken[c] {
                ds.perm += ds.skip;
                if ds.perm >= size {
                    ds.perm -= size;
                }
                c = ds.perm as usize;
            }
            taken[c] = true;
            lookup[c] = u16::try_from(p).unwrap_or(NO_DEST);
            n += 1;
            if n == slots {
                break 'fill;
            }
            dt_count += 1;
            if dt_count >= ds.turns {
                dt_count = 0;
                p += 1;
            }
        }
    }
    Ok(MhTable { size, lookup })
}

impl MhTable {
    /// Slots in the table.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// The dest index in each slot (`None` for an empty table).
    pub fn slots(&self) -> impl Iterator<Item = Option<usize>> + '_ {
        self.lookup
            .iter()
            .map(|&d| (d != NO_DEST).then_some(usize::from(d)))
    }

    fn slot(&self, hash: u32) -> Option<usize> {
        // hash % size < size == lookup.len().
        let d = *self.lookup.get((hash % self.size) as usize)?;
        (d != NO_DEST).then_some(usize::from(d))
    }

    /// The slot's dest for `key`, available or not (what the table says).
    pub fn lookup(&self, key: &SchedKey, flags: SchedFlags) -> Option<usize> {
        let port = if flags.port() { key.cport } else { 0 };
        self.slot(hashkey(&key.caddr, port, HASH1, 0))
    }

    /// `ip_vs_mh_schedule`: the hashed dest if it is available; with
    /// `mh-fallback`, else the first available dest found by rehashing with
    /// offsets from the original slot on.
    pub fn pick<D: DestSet + ?Sized>(
        &self,
        dests: &D,
        key: &SchedKey,
        flags: SchedFlags,
    ) -> Option<usize> {
        let port = if flags.port() { key.cport } else { 0 };
        let usable = |i: usize| i < dests.len() && dests.available(i);
        let ihash = hashkey(&key.caddr, port, HASH1, 0) % self.size;
        let first = self.slot(ihash)?;
        if usable(first) {
            return Some(first);
        }
        if !flags.fallback() {
            return None;
        }
        for offset in 0..self.size {
            let roffset = (offset + ihash) % self.size;
            match self.slot(hashkey(&key.caddr, port, HASH1, roffset)) {
                None => return None,
                Some(d) if usable(d) => return Some(d),
                Some(_) => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(deprecated)]
    fn siphash_2_4_matches_std_so_1_3_is_the_same_code() {
        use core::hash::Hasher;
        for len in [0usize, 3, 4, 7, 8, 9, 15, 16, 33] {
            let msg: Vec<u8> = (0..len).map(|i| u8::try_from(i).unwrap()).collect();
            let mut h =
                std::hash::SipHasher::new_with_keys(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
            h.write(&msg);
            assert_eq!(
                siphash::<2, 4>(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, &msg),
                h.finish(),
                "len {len}"
            );
        }
        // Reference SipHash-2-4 vector (paper, appendix A): 15-byte message.
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(
            siphash::<2, 4>(0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908, &msg),
            0xa129_ca61_49be_45e5
        );
    }

    #[test]
    fn every_slot_filled_and_weights_honoured() {
        let dests = [
            DestSpec::new([10, 0, 0, 1].into(), 80, 1),
            DestSpec::new([10, 0, 0, 2].into(), 80, 2),
            DestSpec::new([10, 0, 0, 3].into(), 80, 0),
            DestSpec::new([10, 0, 0, 4].into(), 80, 1),
        ];
        let t = build_mh_table(&dests, 4093).unwrap();
        let mut per = [0u32; 4];
        for s in t.slots() {
            per[s.unwrap()] += 1;
        }
        assert_eq!(per[2], 0, "last_weight 0 gets no slot");
        assert_eq!(per.iter().sum::<u32>(), 4093);
        // Turns 1, 2, 0, 1 per round of 4 slots: shares 1:2:0:1 up to the
        // last, partial round.
        assert!(
            per[1].abs_diff(2 * per[0]) <= 2 && per[0].abs_diff(per[3]) <= 1,
            "{per:?}"
        );
    }

    #[test]
    fn bad_size_and_empty() {
        assert_eq!(
            build_mh_table(&[], 4000),
            Err(SchedError::BadMhTableSize(4000))
        );
        let t = build_mh_table(&[], 251).unwrap();
        assert!(t.slots().all(|s| s.is_none()));
        let many: Vec<_> = (0..252u32)
            .map(|i| DestSpec::new(core::net::Ipv4Addr::from(i).into(), 1, 1))
            .collect();
        assert!(matches!(
            build_mh_table(&many, 251),
            Err(SchedError::TooManyDests { .. })
        ));
    }
}
