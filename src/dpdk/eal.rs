//! The Environment Abstraction Layer: started once per process, cleaned up on
//! drop.

use super::error::{last_error, DpdkError};
use std::ffi::{c_char, CString};
use std::sync::atomic::{AtomicBool, Ordering};

static STARTED: AtomicBool = AtomicBool::new(false);

/// A started EAL. Dropping it runs `rte_eal_cleanup`; everything made from
/// DPDK (ports, pools, mbufs) must be gone by then, which holds when they are
/// declared after the `Eal` in the same scope.
#[derive(Debug)]
pub struct Eal {
    _private: (),
}

impl Eal {
    /// Starts EAL with `args` (without a program name; `rvsd` is put first).
    /// DPDK prints its own reason lines on failure; the error carries
    /// `rte_strerror(rte_errno)`.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyStarted);
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::new("rvsd").map_err(|_| DpdkError::BadArgument("rvsd".into()))?);
        for a in args {
            let a = a.as_ref();
            owned.push(CString::new(a).map_err(|_| DpdkError::BadArgument(a.to_owned()))?);
        }
        // EAL may keep pointers into argv for the life of the process (it
        // does for some options), so the strings are leaked: a few bytes, once.
        let mut argv: Vec<*mut c_char> = owned.into_iter().map(CString::into_raw).collect();
        let argc =
            i32::try_from(argv.len()).map_err(|_| DpdkError::BadArgument("too many".into()))?;
        // SAFETY: argv holds argc valid NUL-terminated strings that are never
        // freed; EAL may permute the array, which we own and do not reuse.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        std::mem::forget(argv);
        if rc < 0 {
            return Err(DpdkError::EalInit {
                reason: last_error(),
            });
        }
        Ok(Eal { _private: () })
    }

    /// The DPDK version string (`DPDK 22.11.11`).
    pub fn version() -> String {
        // SAFETY: rte_version returns a pointer to a static NUL-terminated string.
        unsafe { std::ffi::CStr::from_ptr(dpdk_sys::rte_version()) }
            .to_string_lossy()
            .into_owned()
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // SAFETY: EAL was started by this value; the owners of ports, pools
        // and lcores were dropped before it (see the type's doc).
        let rc = unsafe { dpdk_sys::rte_eal_cleanup() };
        if rc != 0 {
            tracing::warn!(rc, "rte_eal_cleanup failed");
        }
    }
}

/// A monotonic nanosecond clock from the TSC, for the dataplane's `Time`.
#[derive(Debug, Clone, Copy)]
pub struct TscClock {
    hz: u64,
    start: u64,
}

impl TscClock {
    /// A clock whose zero is now. Needs a started EAL (for the TSC rate).
    pub fn new(_eal: &Eal) -> Self {
        // SAFETY: plain reads; EAL is started (the argument proves it), so the
        // TSC frequency has been measured.
        let (hz, start) = unsafe { (dpdk_sys::rte_get_tsc_hz(), dpdk_sys::rte_rdtsc()) };
        TscClock {
            hz: hz.max(1),
            start,
        }
    }

    /// Nanoseconds since the clock was made.
    pub fn now(&self) -> dataplane::Time {
        // SAFETY: rte_rdtsc reads the time-stamp counter; no memory is touched.
        let ticks = unsafe { dpdk_sys::rte_rdtsc() }.saturating_sub(self.start);
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(self.hz);
        dataplane::Time::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}
