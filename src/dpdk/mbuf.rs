//! Owned mbufs and bursts of them. Whatever is not handed to a NIC is freed
//! on drop, so no path can leak a buffer.

use dataplane::frame::{Frame, FrameError};
use std::ptr::NonNull;

/// Packets per rx/tx burst, at most.
pub const MAX_BURST: usize = 64;

/// One owned mbuf (refcount 1, ours alone). Freed on drop.
#[derive(Debug)]
pub struct Mbuf {
    ptr: NonNull<dpdk_sys::rte_mbuf>,
}

// SAFETY: an Mbuf is the only handle to its buffer; moving it to another
// lcore moves ownership, and mbuf free is safe from any lcore.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `ptr` must be a valid mbuf that no one else will use or free.
    pub unsafe fn from_raw(ptr: NonNull<dpdk_sys::rte_mbuf>) -> Self {
        Mbuf { ptr }
    }

    /// Gives up ownership (for tx bursts).
    pub fn into_raw(self) -> *mut dpdk_sys::rte_mbuf {
        let p = self.ptr.as_ptr();
        std::mem::forget(self);
        p
    }

    /// The mbuf header. Fields are read directly (no call per packet); the
    /// layout is the one bindgen found, checked against C's `offsetof` by
    /// dpdk-sys's `mbuf_layout_matches_c` test.
    fn hdr(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: the pointer is a valid mbuf we own alone for self's life.
        unsafe { self.ptr.as_ref() }
    }

    /// Bytes of data in the first segment.
    pub fn len(&self) -> usize {
        usize::from(self.hdr().data_len)
    }

    /// True if the first segment is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of segments in the chain.
    pub fn segments(&self) -> u16 {
        self.hdr().nb_segs
    }

    /// The input port recorded in the mbuf.
    pub fn port(&self) -> u16 {
        self.hdr().port
    }

    /// Records the input port (kept across a redirect to another worker).
    pub fn set_port(&mut self, port: u16) {
        // SAFETY: we own the mbuf alone; `port` is a plain field.
        unsafe { self.ptr.as_mut() }.port = port;
    }

    /// Bytes free in front of the data.
    pub fn headroom(&self) -> usize {
        usize::from(self.hdr().data_off)
    }

    /// The whole data room of the first segment, and the data window in it.
    fn room(&mut self) -> (&mut [u8], usize, usize) {
        let h = self.hdr();
        let (base, cap) = (h.buf_addr.cast::<u8>(), usize::from(h.buf_len));
        let (off, len) = (usize::from(h.data_off), usize::from(h.data_len));
        // SAFETY: buf_addr points to buf_len bytes owned by this mbuf (the
        // data room, outside the header struct); we hold the only handle, and
        // &mut self keeps the slice unique for its lifetime.
        (
            unsafe { std::slice::from_raw_parts_mut(base, cap) },
            off,
            len,
        )
    }

    /// The packet bytes (first segment).
    pub fn data(&self) -> &[u8] {
        let h = self.hdr();
        let (off, len) = (usize::from(h.data_off), usize::from(h.data_len));
        // SAFETY: data_off + data_len lie inside the data room by DPDK's
        // invariants; the slice lives no longer than &self.
        unsafe { std::slice::from_raw_parts(h.buf_addr.cast::<u8>().cast_const().add(off), len) }
    }

    /// The packet bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let (room, off, len) = self.room();
        &mut room[off..off + len]
    }

    /// Grows the data by `n` bytes at the end and returns them.
    pub fn append(&mut self, n: u16) -> Option<&mut [u8]> {
        // SAFETY: the mbuf is ours; rte_pktmbuf_append checks the tailroom and
        // returns NULL when it is short.
        let p = unsafe { dpdk_sys::rte_pktmbuf_append(self.ptr.as_ptr(), n) };
        if p.is_null() {
            return None;
        }
        let len = self.len();
        Some(&mut self.data_mut()[len - usize::from(n)..])
    }

    /// Grows the data by `n` bytes at the front (into the headroom).
    pub fn prepend(&mut self, n: u16) -> bool {
        // SAFETY: the mbuf is ours; rte_pktmbuf_prepend checks the headroom.
        !unsafe { dpdk_sys::rte_pktmbuf_prepend(self.ptr.as_ptr(), n) }.is_null()
    }

    /// Removes `n` bytes from the front.
    pub fn adj(&mut self, n: u16) -> bool {
        // SAFETY: the mbuf is ours; rte_pktmbuf_adj checks the length.
        !unsafe { dpdk_sys::rte_pktmbuf_adj(self.ptr.as_ptr(), n) }.is_null()
    }

    /// A [`Frame`] over the data room of a single-segment mbuf (None for a
    /// chained one). Write the frame's new window back with
    /// [`Mbuf::set_window`] once it is dropped.
    pub fn frame(&mut self) -> Option<Frame<'_>> {
        if self.segments() != 1 {
            return None;
        }
        let (room, off, len) = self.room();
        Frame::new(room, off, len).ok()
    }

    /// Sets the data window after the dataplane moved it (a frame from
    /// [`Mbuf::frame`] keeps its window inside the data room, so it fits).
    pub fn set_window(&mut self, start: usize, len: usize) -> bool {
        let cap = usize::from(self.hdr().buf_len);
        let (Ok(s), Ok(l)) = (u16::try_from(start), u16::try_from(len)) else {
            return false;
        };
        if start + len > cap {
            return false;
        }
        // SAFETY: we own the mbuf alone; start + len lie within buf_len
        // (checked above); with one segment, pkt_len = data_len is right.
        let h = unsafe { self.ptr.as_mut() };
        h.data_off = s;
        h.data_len = l;
        h.pkt_len = u32::from(l);
        true
    }

    /// Lends the dataplane a [`Frame`] over the data room and writes the
    /// frame's new window back. Chained (multi-segment) mbufs are refused:
    /// the dataplane works on one contiguous buffer.
    pub fn with_frame<R>(&mut self, f: impl FnOnce(&mut Frame<'_>) -> R) -> Result<R, FrameError> {
        let (r, start, len) = {
            let mut frame = self.frame().ok_or(FrameError::OutOfBounds)?;
            let r = f(&mut frame);
            (r, frame.start(), frame.len())
        };
        if !self.set_window(start, len) {
            return Err(FrameError::OutOfBounds);
        }
        Ok(r)
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf alone; it is freed exactly once.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.ptr.as_ptr()) }
    }
}

/// Up to [`MAX_BURST`] owned mbufs, for rx and tx. Frees what it still holds
/// on drop.
#[derive(Debug)]
pub struct Burst {
    mbufs: [*mut dpdk_sys::rte_mbuf; MAX_BURST],
    len: usize,
}

// SAFETY: a Burst owns its mbufs exactly as Mbuf does.
unsafe impl Send for Burst {}

impl Default for Burst {
    fn default() -> Self {
        Burst {
            mbufs: [std::ptr::null_mut(); MAX_BURST],
            len: 0,
        }
    }
}

impl Burst {
    /// An empty burst.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when no more fit.
    pub fn is_full(&self) -> bool {
        self.len == MAX_BURST
    }

    /// Adds an mbuf; gives it back when the burst is full.
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.mbufs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes every mbuf out, in order, prefetching the ones to come (VPP's
    /// habit: the header a few packets ahead, the data of the next one).
    /// Mbufs the caller does not take are freed when the iterator drops.
    pub fn drain(&mut self) -> Drain<'_> {
        let n = std::mem::replace(&mut self.len, 0);
        let mbufs = &self.mbufs[..n];
        for &p in mbufs.iter().take(PREFETCH_AHEAD) {
            prefetch(p.cast_const().cast());
        }
        Drain { mbufs, next: 0 }
    }

    /// Lends each held mbuf in turn to `f`, in order, keeping them all.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut Mbuf)) {
        for &p in &self.mbufs[..self.len] {
            // SAFETY: the first `len` slots hold owned, non-null mbufs. The
            // Mbuf lent here is never dropped (ManuallyDrop), so the burst
            // keeps ownership, also when `f` panics; Mbuf's methods do not
            // move or free the buffer, so the slot's pointer stays valid.
            let mut m =
                std::mem::ManuallyDrop::new(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) });
            f(&mut m);
        }
    }

    /// The free slots, for an rx burst to fill; call [`Burst::filled`] after.
    pub(crate) fn spare(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, u16) {
        let free = MAX_BURST - self.len;
        // MAX_BURST fits in u16.
        let free = u16::try_from(free).unwrap_or(u16::MAX);
        // SAFETY: len <= MAX_BURST, so the offset stays within the array.
        (unsafe { self.mbufs.as_mut_ptr().add(self.len) }, free)
    }

    /// Records that `n` spare slots were filled with owned mbufs.
    pub(crate) fn filled(&mut self, n: usize) {
        debug_assert!(self.len + n <= MAX_BURST);
        self.len = (self.len + n).min(MAX_BURST);
    }

    /// The held mbufs, for a tx burst; call [`Burst::consumed`] after.
    pub(crate) fn held(&mut self) -> (*mut *mut dpdk_sys::rte_mbuf, u16) {
        (
            self.mbufs.as_mut_ptr(),
            u16::try_from(self.len).unwrap_or(u16::MAX),
        )
    }

    /// Records that the first `sent` mbufs were taken by the NIC and frees
    /// the rest: a short tx burst never leaks (STYLE.md, demikernel's bug).
    pub(crate) fn consumed(&mut self, sent: usize) {
        let n = std::mem::replace(&mut self.len, 0);
        for &p in &self.mbufs[sent.min(n)..n] {
            // SAFETY: these slots hold owned mbufs the NIC did not take.
            unsafe { dpdk_sys::rte_pktmbuf_free(p) };
        }
    }
}

/// How many mbuf headers ahead [`Burst::drain`] prefetches.
const PREFETCH_AHEAD: usize = 3;

/// Hints the CPU to load the cache line at `p`.
#[inline(always)]
fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint; it never faults, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// The iterator of [`Burst::drain`].
#[derive(Debug)]
pub struct Drain<'a> {
    mbufs: &'a [*mut dpdk_sys::rte_mbuf],
    next: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    fn next(&mut self) -> Option<Mbuf> {
        let p = *self.mbufs.get(self.next)?;
        self.next += 1;
        if let Some(&ahead) = self.mbufs.get(self.next + PREFETCH_AHEAD - 1) {
            prefetch(ahead.cast_const().cast());
        }
        if let Some(&following) = self.mbufs.get(self.next) {
            // SAFETY: a burst holds valid mbufs; their headers were
            // prefetched PREFETCH_AHEAD packets ago, so this read is warm.
            let h = unsafe { &*following };
            prefetch(
                h.buf_addr
                    .cast::<u8>()
                    .cast_const()
                    .wrapping_add(usize::from(h.data_off)),
            );
        }
        // SAFETY: slots of a drained burst hold owned, non-null mbufs, each
        // handed out once (`next` only grows; the burst's len was reset).
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for &p in &self.mbufs[self.next.min(self.mbufs.len())..] {
            // SAFETY: mbufs not handed out are still owned by the burst.
            unsafe { dpdk_sys::rte_pktmbuf_free(p) };
        }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.consumed(0);
    }
}
