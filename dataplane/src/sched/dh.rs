//! Destination hashing (`ip_vs_dh.c`): a 256-bucket table maps a hash of the
//! packet's destination address to a dest; buckets are dealt to the dests
//! round-robin, ignoring weights. A hashed dest that is quiesced or
//! overloaded gives `None` (no fallback in dh). Built on the control core.

use core::net::IpAddr;

use super::{addr_fold, hash_32, DestSet, DestSpec, NO_DEST};

/// `CONFIG_IP_VS_DH_TAB_BITS` default.
pub const DH_TAB_BITS: u32 = 8;
/// Buckets in the table.
pub const DH_TAB_SIZE: usize = 1 << DH_TAB_BITS;

/// The dh bucket table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhTable {
    buckets: Box<[u16]>,
}

impl DhTable {
    /// `ip_vs_dh_reassign`: bucket `i` gets dest `i mod n`.
    pub fn build(dests: &[DestSpec]) -> DhTable {
        let buckets = (0..DH_TAB_SIZE)
            .map(|i| {
                if dests.is_empty() {
                    NO_DEST
                } else {
                    u16::try_from(i % dests.len()).unwrap_or(NO_DEST)
                }
            })
            .collect();
        DhTable { buckets }
    }

    /// `ip_vs_dh_schedule`.
    pub fn pick<D: DestSet + ?Sized>(&self, dests: &D, daddr: &IpAddr) -> Option<usize> {
        // hash_32 with 8 bits is below 256: always a valid index.
        let b = hash_32(addr_fold(daddr), DH_TAB_BITS) as usize;
        let d = usize::from(*self.buckets.get(b)?);
        (d != usize::from(NO_DEST) && d < dests.len() && dests.available(d)).then_some(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_dealt_round_robin() {
        let dests: Vec<_> = (1..=3)
            .map(|i| DestSpec::new([10, 0, 0, i].into(), 80, 9))
            .collect();
        let t = DhTable::build(&dests);
        assert_eq!(&t.buckets[..7], &[0, 1, 2, 0, 1, 2, 0]);
    }
}
