//! Errors of the DPDK layer: one line each, naming what failed and DPDK's own
//! reason.

use std::ffi::CStr;

/// Something DPDK refused.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed.
    #[error("EAL failed to start: {reason} (see the EAL lines above)")]
    EalInit {
        /// DPDK's reason (`rte_strerror(rte_errno)`).
        reason: String,
    },
    /// EAL can start once per process (DPDK's rule).
    #[error("EAL is already initialised in this process")]
    EalAlreadyStarted,
    /// An argument had an interior NUL byte.
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    /// `rte_pktmbuf_pool_create` failed.
    #[error("cannot create mbuf pool {name} ({mbufs} mbufs): {reason}")]
    Mempool {
        /// Pool name.
        name: String,
        /// Requested size.
        mbufs: u32,
        /// DPDK's reason.
        reason: String,
    },
    /// `rte_vdev_init` failed.
    #[error("cannot create device {name} with args `{args}`: {reason}")]
    Vdev {
        /// Device name.
        name: String,
        /// Device args.
        args: String,
        /// DPDK's reason.
        reason: String,
    },
    /// No ethdev port has this name.
    #[error("no DPDK port named {0} (for a NIC, is it bound to a DPDK driver and not excluded by --no-pci?)")]
    NoSuchPort(String),
    /// A port operation failed.
    #[error("port {port} ({name}): {op} failed: {reason}")]
    Port {
        /// Port id.
        port: u16,
        /// Device name.
        name: String,
        /// What was attempted.
        op: &'static str,
        /// DPDK's reason.
        reason: String,
    },
    /// `rte_eal_remote_launch` failed.
    #[error("cannot launch a worker on lcore {lcore}: {reason}")]
    Launch {
        /// The lcore.
        lcore: u32,
        /// Why.
        reason: String,
    },
}

/// DPDK's text for an errno value (negative values are accepted too).
pub(crate) fn strerror(errnum: i32) -> String {
    let errnum = errnum.checked_abs().unwrap_or(i32::MAX);
    // SAFETY: rte_strerror returns a pointer to a NUL-terminated string that
    // is either static or in a per-thread buffer valid until the next call on
    // this thread; it is copied out before anything else runs here.
    unsafe {
        let p = dpdk_sys::rte_strerror(errnum);
        if p.is_null() {
            return format!("error {errnum}");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// DPDK's text for the current `rte_errno`.
pub(crate) fn last_error() -> String {
    // SAFETY: rte_errno reads a per-thread integer; always valid.
    strerror(unsafe { dpdk_sys::rte_errno() })
}
