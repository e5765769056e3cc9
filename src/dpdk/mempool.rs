//! A pool of packet buffers (`rte_pktmbuf_pool_create`), freed on drop.

use super::error::{last_error, DpdkError};
use super::mbuf::{Burst, Mbuf};
use std::ffi::CString;
use std::ptr::NonNull;

/// An mbuf pool. It must outlive every mbuf taken from it and every port
/// whose rx queues it feeds: declare it before them so it drops after.
#[derive(Debug)]
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    name: String,
}

// SAFETY: rte_mempool operations used here (get/put through mbuf alloc/free,
// counts) are multi-producer/multi-consumer safe by DPDK's design; the pointer
// itself is never mutated through this handle.
unsafe impl Send for Mempool {}
// SAFETY: as for Send: concurrent use from several lcores is what mempools are for.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// A pool of `mbufs` buffers with `data_room` bytes each (headroom
    /// included) and a per-lcore cache of `cache`, on any NUMA socket.
    pub fn new(name: &str, mbufs: u32, cache: u32, data_room: u16) -> Result<Mempool, DpdkError> {
        let err = |reason: String| DpdkError::Mempool {
            name: name.to_owned(),
            mbufs,
            reason,
        };
        let cname = CString::new(name).map_err(|_| err("name contains NUL".into()))?;
        let socket = dpdk_sys::SOCKET_ID_ANY;
        // SAFETY: cname is a valid NUL-terminated string for the duration of
        // the call; the other arguments are plain values. EAL is started (a
        // pool can only be made in a process whose Eal value exists; without it
        // DPDK returns NULL with rte_errno set, handled below).
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), mbufs, cache, 0, data_room, socket)
        };
        NonNull::new(ptr)
            .map(|ptr| Mempool {
                ptr,
                name: name.to_owned(),
            })
            .ok_or_else(|| err(last_error()))
    }

    /// The raw pool, for port queue setup.
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// Takes one mbuf from the pool (data length 0).
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool pointer is valid while self lives.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.ptr.as_ptr()) };
        // SAFETY: a non-null result is a fresh mbuf that we now own alone.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Fills the free slots of `burst` with fresh mbufs (data length 0), up
    /// to `n` of them, all or none (`rte_pktmbuf_alloc_bulk`); returns how
    /// many were added: 0 when the pool has too few.
    pub fn alloc_bulk(&self, burst: &mut Burst, n: usize) -> usize {
        let (slots, free) = burst.spare();
        let n = n.min(usize::from(free));
        let Ok(count) = u32::try_from(n) else {
            return 0;
        };
        // SAFETY: the pool pointer is valid while self lives; `slots` has room
        // for `free` >= n pointers. On success every one of the n slots holds
        // a fresh mbuf that the burst now owns; on failure none was taken.
        let rc = unsafe { dpdk_sys::rte_pktmbuf_alloc_bulk(self.ptr.as_ptr(), slots, count) };
        if rc != 0 {
            return 0;
        }
        burst.filled(n);
        n
    }

    /// Buffers free in the pool (per-lcore caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool pointer is valid while self lives.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Buffers taken from the pool and not yet returned.
    pub fn in_use(&self) -> u32 {
        // SAFETY: the pool pointer is valid while self lives.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: the pool was made by rte_pktmbuf_pool_create and is freed
        // once; ports and mbufs using it were dropped first (see the type doc).
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) }
    }
}
