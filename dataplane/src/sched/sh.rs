//! Source hashing (`ip_vs_sh.c`): a 256-bucket table maps a hash of the
//! client address (and with `sh-port` the client port) to a dest. The table
//! is filled by walking the dest list, each dest taking `weight` consecutive
//! buckets (a weight-0 dest still takes one), wrapping until all 256 are
//! filled. A hashed dest that is quiesced or overloaded gives `None`, unless
//! `sh-fallback` is set: then the table is walked from the original bucket,
//! rehashing with growing offsets, for the first available dest.
//!
//! The table depends only on the dest list, so it is built on the control
//! core into the service's [`super::SchedSeed`].

use super::{addr_fold, hash_32, DestSet, DestSpec, SchedFlags, SchedKey, NO_DEST};

/// `CONFIG_IP_VS_SH_TAB_BITS` default.
pub const SH_TAB_BITS: u32 = 8;
/// Buckets in the table.
pub const SH_TAB_SIZE: usize = 1 << SH_TAB_BITS;
const SH_TAB_MASK: u32 = (1 << SH_TAB_BITS) - 1;

/// The sh bucket table: dest index per bucket, `u16::MAX` when the service
/// has no dests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShTable {
    buckets: Box<[u16]>,
}

/// `ip_vs_sh_hashkey`.
fn hashkey(key: &SchedKey, port: u16, offset: u32) -> u32 {
    let v = u32::from(port).wrapping_add(addr_fold(&key.caddr));
    offset.wrapping_add(hash_32(v, SH_TAB_BITS)) & SH_TAB_MASK
}

impl ShTable {
    /// `ip_vs_sh_reassign`. `dests.len() <= MAX_DESTS` (checked by the seed).
    pub fn build(dests: &[DestSpec]) -> ShTable {
        let mut buckets = vec![NO_DEST; SH_TAB_SIZE].into_boxed_slice();
        if !dests.is_empty() {
            let (mut p, mut count) = (0usize, 0u32);
            for b in buckets.iter_mut() {
                *b = u16::try_from(p).unwrap_or(NO_DEST);
                // Don't move to the next dest until `weight` buckets are filled.
                count += 1;
                if count >= dests[p].weight {
                    p = (p + 1) % dests.len();
                    count = 0;
                }
            }
        }
        ShTable { buckets }
    }

    /// The dest index in bucket `b`, if any.
    fn bucket(&self, b: u32) -> Option<usize> {
        // b is masked to 8 bits by `hashkey`: in range on every target.
        self.buckets
            .get(b as usize)
            .copied()
            .filter(|&d| d != NO_DEST)
            .map(usize::from)
    }

    /// `ip_vs_sh_schedule`: hash `caddr` (and `cport` with `sh-port`).
    pub fn pick<D: DestSet + ?Sized>(
        &self,
        dests: &D,
        key: &SchedKey,
        flags: SchedFlags,
    ) -> Option<usize> {
        let port = if flags.port() { key.cport } else { 0 };
        let usable = |i: usize| i < dests.len() && dests.available(i);
        let ihash = hashkey(key, port, 0);
        let first = self.bucket(ihash)?;
        if usable(first) {
            return Some(first);
        }
        if !flags.fallback() {
            return None;
        }
        // ip_vs_sh_get_fallback: loop around the table from the original
        // hash, rehashing with each offset, so the walk is deterministic.
        for offset in 0..=SH_TAB_MASK {
            let roffset = (offset + ihash) & SH_TAB_MASK;
            let b = hashkey(key, port, roffset);
            match self.bucket(b) {
                Some(d) if usable(d) => return Some(d),
                _ => continue,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_weights_in_list_order() {
        let dests = [
            DestSpec::new([10, 0, 0, 1].into(), 80, 2),
            DestSpec::new([10, 0, 0, 2].into(), 80, 0),
            DestSpec::new([10, 0, 0, 3].into(), 80, 1),
        ];
        let t = ShTable::build(&dests);
        assert_eq!(&t.buckets[..8], &[0, 0, 1, 2, 0, 0, 1, 2]);
        assert!(ShTable::build(&[]).buckets.iter().all(|&b| b == NO_DEST));
    }
}
