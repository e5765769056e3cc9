//! NIC steering of FullNAT replies with rte_flow (DESIGN.md, "Reply
//! ownership"): one rule per LIP, protocol and worker, "IPv4 to LIP, TCP/UDP
//! dport & (workers - 1) == w → rx queue w", so a reply arrives on the queue
//! of the worker whose lport partition it names and needs no software
//! redirect. The plan comes from the sans-IO
//! [`dataplane::fwd::fullnat_steering_plan`]; this module only writes it
//! into rte_flow items.
//!
//! Steering is an optimisation: a port that refuses the rules (every
//! virtual device: af_packet, memif, ring and null have no flow support and
//! answer ENOSYS; net_tap's backend needs the kernel's cls_flower) keeps
//! none, and the redirect rings carry replies to their owners as before.
//! The development machines have no NIC and no cls_flower, so rule creation
//! on real hardware has not been exercised here; only the refusal path has.

use super::error::strerror;
use super::port::Port;
use dataplane::fwd::SteerRule;
use dataplane::wire::ip::IpProtocol;
use std::ffi::CStr;
use std::fmt;

/// A steering rule the port's driver refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} {rule} failed: {reason}")]
pub struct SteerError {
    /// "validating" or "creating".
    pub op: &'static str,
    /// The rule, as text.
    pub rule: String,
    /// DPDK's errno text and the driver's message.
    pub reason: String,
}

/// A rule as text for messages: `198.18.0.100 tcp dport&0x1=0x0 -> queue 0`.
struct Shown<'a>(&'a SteerRule);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let proto = match r.proto {
            IpProtocol::TCP => "tcp",
            IpProtocol::UDP => "udp",
            _ => "proto?",
        };
        write!(
            f,
            "{} {proto} dport&{:#x}={:#x} -> queue {}",
            r.lip, r.port_mask, r.port_spec, r.queue
        )
    }
}

/// DPDK's reason for a failed rte_flow call: errno text plus the message
/// the driver put in `err`.
fn reason(rc: i32, err: &dpdk_sys::rte_flow_error) -> String {
    let mut text = strerror(rc);
    if !err.message.is_null() {
        // SAFETY: a non-NULL message is a NUL-terminated string owned by the
        // driver or static, valid until the next rte_flow call on this port;
        // it is copied out at once.
        let msg = unsafe { CStr::from_ptr(err.message) }.to_string_lossy();
        if !msg.is_empty() && msg != text {
            text = format!("{text}: {msg}");
        }
    }
    text
}

/// Which of the two rte_flow calls [`with_rule`] makes.
#[derive(Clone, Copy)]
enum Call {
    Validate,
    Create,
}

/// Builds `rule` as rte_flow attributes, pattern and actions on the stack
/// and makes `call` on `port`; Err carries DPDK's reason.
fn with_rule(port: u16, rule: &SteerRule, call: Call) -> Result<(), String> {
    let proto_item = match rule.proto {
        IpProtocol::TCP => dpdk_sys::rte_flow_item_type_RTE_FLOW_ITEM_TYPE_TCP,
        IpProtocol::UDP => dpdk_sys::rte_flow_item_type_RTE_FLOW_ITEM_TYPE_UDP,
        other => return Err(format!("protocol {} cannot be steered", other.0)),
    };
    let mut attr = dpdk_sys::rte_flow_attr::default();
    attr.set_ingress(1);
    // rte_flow specs and masks are in network byte order: an rte_be32_t
    // holds the address's octets in memory order.
    let mut ip_spec = dpdk_sys::rte_flow_item_ipv4::default();
    ip_spec.hdr.dst_addr = u32::from_ne_bytes(rule.lip.octets());
    let mut ip_mask = dpdk_sys::rte_flow_item_ipv4::default();
    ip_mask.hdr.dst_addr = u32::MAX;
    let (spec_port, mask_port) = (rule.port_spec.to_be(), rule.port_mask.to_be());
    let mut tcp_spec = dpdk_sys::rte_flow_item_tcp::default();
    let mut tcp_mask = dpdk_sys::rte_flow_item_tcp::default();
    tcp_spec.hdr.dst_port = spec_port;
    tcp_mask.hdr.dst_port = mask_port;
    let mut udp_spec = dpdk_sys::rte_flow_item_udp::default();
    let mut udp_mask = dpdk_sys::rte_flow_item_udp::default();
    udp_spec.hdr.dst_port = spec_port;
    udp_mask.hdr.dst_port = mask_port;
    let (l4_spec, l4_mask): (*const std::ffi::c_void, *const std::ffi::c_void) =
        if rule.proto == IpProtocol::TCP {
            (
                std::ptr::from_ref(&tcp_spec).cast(),
                std::ptr::from_ref(&tcp_mask).cast(),
            )
        } else {
            (
                std::ptr::from_ref(&udp_spec).cast(),
                std::ptr::from_ref(&udp_mask).cast(),
            )
        };
    let pattern = [
        // Any Ethernet frame (no spec, no mask).
        dpdk_sys::rte_flow_item {
            type_: dpdk_sys::rte_flow_item_type_RTE_FLOW_ITEM_TYPE_ETH,
            ..Default::default()
        },
        dpdk_sys::rte_flow_item {
            type_: dpdk_sys::rte_flow_item_type_RTE_FLOW_ITEM_TYPE_IPV4,
            spec: std::ptr::from_ref(&ip_spec).cast(),
            mask: std::ptr::from_ref(&ip_mask).cast(),
            ..Default::default()
        },
        dpdk_sys::rte_flow_item {
            type_: proto_item,
            spec: l4_spec,
            mask: l4_mask,
            ..Default::default()
        },
        dpdk_sys::rte_flow_item {
            type_: dpdk_sys::rte_flow_item_type_RTE_FLOW_ITEM_TYPE_END,
            ..Default::default()
        },
    ];
    let queue = dpdk_sys::rte_flow_action_queue { index: rule.queue };
    let actions = [
        dpdk_sys::rte_flow_action {
            type_: dpdk_sys::rte_flow_action_type_RTE_FLOW_ACTION_TYPE_QUEUE,
            conf: std::ptr::from_ref(&queue).cast(),
        },
        dpdk_sys::rte_flow_action {
            type_: dpdk_sys::rte_flow_action_type_RTE_FLOW_ACTION_TYPE_END,
            ..Default::default()
        },
    ];
    let mut err = dpdk_sys::rte_flow_error::default();
    match call {
        Call::Validate => {
            // SAFETY: the port id is valid (owned Port); attr, the
            // END-terminated pattern and actions, and every spec, mask and
            // conf they point to are locals alive for the call, which only
            // reads them; err is a valid out pointer.
            let rc = unsafe {
                dpdk_sys::rte_flow_validate(
                    port,
                    &attr,
                    pattern.as_ptr(),
                    actions.as_ptr(),
                    &mut err,
                )
            };
            if rc != 0 {
                return Err(reason(rc, &err));
            }
        }
        Call::Create => {
            // SAFETY: as for rte_flow_validate; the driver copies what it
            // keeps, so the locals may go after the call. The returned
            // handle is not kept: rvsd removes its rules with
            // rte_flow_flush.
            let flow = unsafe {
                dpdk_sys::rte_flow_create(port, &attr, pattern.as_ptr(), actions.as_ptr(), &mut err)
            };
            if flow.is_null() {
                // SAFETY: rte_errno reads a per-thread integer.
                let rc = unsafe { dpdk_sys::rte_errno() };
                return Err(reason(rc, &err));
            }
        }
    }
    Ok(())
}

impl Port {
    /// Installs the steering rules `plan` (from
    /// [`dataplane::fwd::fullnat_steering_plan`]) on this started port,
    /// replacing the rules an earlier call installed. Every rule is
    /// validated before any is created; if one is refused, none stays
    /// installed and the error names it. Returns how many rules are in
    /// place. Call it from the control thread only (rte_flow calls on one
    /// port must not run concurrently; `&mut self` ensures it).
    pub fn steer(&mut self, plan: &[SteerRule]) -> Result<usize, SteerError> {
        self.unsteer();
        for rule in plan {
            with_rule(self.id(), rule, Call::Validate).map_err(|reason| SteerError {
                op: "validating",
                rule: Shown(rule).to_string(),
                reason,
            })?;
        }
        for rule in plan {
            if let Err(reason) = with_rule(self.id(), rule, Call::Create) {
                // Those made so far go (unsteer flushes when any were).
                self.unsteer();
                return Err(SteerError {
                    op: "creating",
                    rule: Shown(rule).to_string(),
                    reason,
                });
            }
            self.flow_rules += 1;
        }
        Ok(self.flow_rules)
    }

    /// Removes every rte_flow rule [`Port::steer`] installed (a flush of the
    /// port's rules: rvsd is the only one that makes any). Port's Drop calls
    /// it before closing the port.
    pub fn unsteer(&mut self) {
        if self.flow_rules == 0 {
            return;
        }
        let mut err = dpdk_sys::rte_flow_error::default();
        // SAFETY: valid port id; err is a valid out pointer. `&mut self`
        // keeps other rte_flow calls on this port out.
        let rc = unsafe { dpdk_sys::rte_flow_flush(self.id(), &mut err) };
        if rc != 0 {
            tracing::warn!(
                port = self.id(),
                "removing rte_flow rules failed: {}",
                reason(rc, &err)
            );
        }
        self.flow_rules = 0;
    }

    /// How many rte_flow steering rules are installed on this port.
    pub fn steering_rules(&self) -> usize {
        self.flow_rules
    }
}
