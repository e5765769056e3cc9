//! NAT (`-m`, masquerading), as IPVS's `ip_vs_nat_xmit` and
//! `ip_vs_snat_handler`: a request CIP:cport -> VIP:vport leaves as
//! CIP:cport -> RIP:rport (port mapping allowed); the reply RIP:rport ->
//! CIP:cport leaves as VIP:vport -> CIP:cport. Replies must be routed back
//! through the director (it is the real servers' gateway).

use super::{rewrite, Endpoint};
use crate::verdict::DropReason;

/// DNAT of a request: destination to `real` (RIP:rport), source unchanged.
pub fn request(ip: &mut [u8], client: Endpoint, real: Endpoint) -> Result<(), DropReason> {
    rewrite(ip, client, real)
}

/// SNAT of a reply: source to `virt` (VIP:vport), destination unchanged.
pub fn reply(ip: &mut [u8], virt: Endpoint, client: Endpoint) -> Result<(), DropReason> {
    rewrite(ip, virt, client)
}
