//! DPDK rings of mbufs: lock-free single-producer/single-consumer queues
//! between lcores (and the wire of `net_ring` ports in harnesses).

use super::error::{last_error, DpdkError};
use super::mbuf::{Burst, Mbuf, MAX_BURST};
use std::ffi::{c_void, CString};
use std::ptr::NonNull;

/// An SP/SC ring of mbuf pointers, freed on drop (with what it still holds).
#[derive(Debug)]
pub struct Ring {
    ptr: NonNull<dpdk_sys::rte_ring>,
}

// SAFETY: a ring is made to be shared between lcores. SP/SC rings have one
// producer and one consumer lcore, MP/SC rings one consumer; the users of
// this type respect that (the harness gives each end to one lcore, a redirect
// ring is dequeued by its owner worker only).
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// A single-producer/single-consumer ring with room for `size - 1`
    /// entries (`size` a power of two).
    pub fn new(name: &str, size: u32) -> Result<Ring, DpdkError> {
        Self::create(
            name,
            size,
            dpdk_sys::RING_F_SP_ENQ | dpdk_sys::RING_F_SC_DEQ,
        )
    }

    /// A multi-producer/single-consumer ring: every worker may enqueue, only
    /// its owner dequeues (the software redirect ring of a worker).
    pub fn new_multi_producer(name: &str, size: u32) -> Result<Ring, DpdkError> {
        Self::create(name, size, dpdk_sys::RING_F_SC_DEQ)
    }

    fn create(name: &str, size: u32, flags: u32) -> Result<Ring, DpdkError> {
        let cname = CString::new(name).map_err(|_| DpdkError::BadArgument(name.into()))?;
        // SAFETY: valid C string for the call; EAL is started (otherwise DPDK
        // returns NULL with rte_errno set, handled below).
        let p = unsafe {
            dpdk_sys::rte_ring_create(cname.as_ptr(), size, dpdk_sys::SOCKET_ID_ANY, flags)
        };
        NonNull::new(p)
            .map(|ptr| Ring { ptr })
            .ok_or_else(|| DpdkError::Mempool {
                name: name.into(),
                mbufs: size,
                reason: last_error(),
            })
    }

    /// The raw ring.
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_ring {
        self.ptr.as_ptr()
    }

    /// Moves every mbuf of `burst` into the ring; those that did not fit are
    /// freed. Returns how many went in.
    pub fn enqueue(&self, burst: &mut Burst) -> usize {
        let (mbufs, n) = burst.held();
        // SAFETY: `mbufs` holds n owned mbuf pointers; the ring takes the
        // first `done`, `consumed` frees the rest. One producer lcore.
        let done = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(
                self.as_ptr(),
                mbufs.cast::<*mut c_void>(),
                u32::from(n),
                std::ptr::null_mut(),
            )
        };
        let done = usize::try_from(done).unwrap_or(0);
        burst.consumed(done);
        done
    }

    /// Takes up to a burst of mbufs out of the ring.
    pub fn dequeue(&self, burst: &mut Burst) -> usize {
        let (slots, free) = burst.spare();
        // SAFETY: `slots` has room for `free` pointers; what the ring hands
        // out is owned by the burst from here on. One consumer lcore.
        let n = unsafe {
            dpdk_sys::rte_ring_dequeue_burst(
                self.as_ptr(),
                slots.cast::<*mut c_void>(),
                u32::from(free),
                std::ptr::null_mut(),
            )
        };
        let n = usize::try_from(n).unwrap_or(0);
        burst.filled(n);
        n
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        let mut b = Burst::new();
        while self.dequeue(&mut b) > 0 {
            b.drain().for_each(drop::<Mbuf>);
        }
        debug_assert!(b.len() <= MAX_BURST);
        // SAFETY: the ring was made by rte_ring_create and is emptied above;
        // no port or lcore uses it any more (its users are declared after it).
        unsafe { dpdk_sys::rte_ring_free(self.ptr.as_ptr()) }
    }
}
