//! A frame: a window `[start, start + len)` over a buffer that has room before
//! it (headroom, for encapsulation) and after it (tailroom).
//!
//! In rvsd the buffer is an mbuf's data room and `start` its `data_off`; in
//! tests it is a `Vec<u8>` ([`FrameBuf`]). The dataplane grows or shrinks the
//! window and the DPDK shell writes the new offset and length back into the
//! mbuf, so encapsulation never copies the payload.

/// Headroom DPDK leaves in front of received data (`RTE_PKTMBUF_HEADROOM`).
pub const DEFAULT_HEADROOM: usize = 128;

/// A window over a byte buffer with head- and tailroom.
#[derive(Debug)]
pub struct Frame<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
}

/// Why a frame operation could not be done. Small and `Copy`: the hot path
/// turns it into a drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// `start + len` lies outside the buffer.
    OutOfBounds,
    /// Not enough room in front of the data to prepend.
    NoHeadroom,
    /// Not enough room behind the data to append.
    NoTailroom,
    /// Asked to remove more bytes than the frame holds.
    TooShort,
}

impl<'a> Frame<'a> {
    /// A frame over `buf[start..start + len]`.
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Result<Self, FrameError> {
        match start.checked_add(len) {
            Some(end) if end <= buf.len() => Ok(Frame { buf, start, len }),
            _ => Err(FrameError::OutOfBounds),
        }
    }

    /// The frame's bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    /// The frame's bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// Length of the frame in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a zero-length frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Offset of the first byte of the frame in the buffer (mbuf `data_off`).
    pub fn start(&self) -> usize {
        self.start
    }

    /// Bytes free in front of the frame.
    pub fn headroom(&self) -> usize {
        self.start
    }

    /// Bytes free behind the frame.
    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.start - self.len
    }

    /// Grows the frame by `n` bytes at the front (for an outer header); the
    /// new bytes hold whatever the buffer held.
    pub fn prepend(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.start {
            return Err(FrameError::NoHeadroom);
        }
        self.start -= n;
        self.len += n;
        Ok(())
    }

    /// Removes `n` bytes from the front (decapsulation, stripping a tag).
    pub fn adj(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.len {
            return Err(FrameError::TooShort);
        }
        self.start += n;
        self.len -= n;
        Ok(())
    }

    /// Grows the frame by `n` bytes at the back.
    pub fn append(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.tailroom() {
            return Err(FrameError::NoTailroom);
        }
        self.len += n;
        Ok(())
    }

    /// Removes `n` bytes from the back (Ethernet padding, for one).
    pub fn trim(&mut self, n: usize) -> Result<(), FrameError> {
        if n > self.len {
            return Err(FrameError::TooShort);
        }
        self.len -= n;
        Ok(())
    }

    /// Sets the length, keeping the start; fails past the tailroom.
    pub fn set_len(&mut self, len: usize) -> Result<(), FrameError> {
        if self.start + len > self.buf.len() {
            return Err(FrameError::NoTailroom);
        }
        self.len = len;
        Ok(())
    }
}

/// An owned buffer with headroom, for tests, the simulator and benches.
#[derive(Debug, Clone)]
pub struct FrameBuf {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

impl FrameBuf {
    /// A buffer of `headroom + data.len() + tailroom` bytes holding `data`.
    pub fn new(data: &[u8], headroom: usize, tailroom: usize) -> Self {
        let mut buf = vec![0u8; headroom + data.len() + tailroom];
        buf[headroom..headroom + data.len()].copy_from_slice(data);
        FrameBuf {
            buf,
            start: headroom,
            len: data.len(),
        }
    }

    /// `data` with DPDK's default headroom and room to grow to 2048 bytes.
    pub fn with_default_room(data: &[u8]) -> Self {
        Self::new(data, DEFAULT_HEADROOM, 2048usize.saturating_sub(data.len()))
    }

    /// A frame over this buffer. Changes made through it are kept when
    /// [`FrameBuf::commit`] is given the frame's new start and length.
    pub fn frame(&mut self) -> Frame<'_> {
        Frame {
            buf: &mut self.buf,
            start: self.start,
            len: self.len,
        }
    }

    /// Runs `f` on a frame over this buffer and keeps its new window.
    pub fn with_frame<R>(&mut self, f: impl FnOnce(&mut Frame<'_>) -> R) -> R {
        let mut frame = Frame {
            buf: &mut self.buf,
            start: self.start,
            len: self.len,
        };
        let r = f(&mut frame);
        let (start, len) = (frame.start, frame.len);
        self.start = start;
        self.len = len;
        r
    }

    /// The bytes of the frame.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_moves() {
        let mut fb = FrameBuf::new(&[1, 2, 3, 4], 8, 4);
        fb.with_frame(|f| {
            assert_eq!(f.headroom(), 8);
            assert_eq!(f.tailroom(), 4);
            f.prepend(2).unwrap();
            f.data_mut()[..2].copy_from_slice(&[9, 9]);
            assert_eq!(f.prepend(7), Err(FrameError::NoHeadroom));
            f.append(4).unwrap();
            assert_eq!(f.append(1), Err(FrameError::NoTailroom));
            f.trim(4).unwrap();
        });
        assert_eq!(fb.data(), &[9, 9, 1, 2, 3, 4]);
        fb.with_frame(|f| {
            f.adj(2).unwrap();
            assert_eq!(f.adj(5), Err(FrameError::TooShort));
        });
        assert_eq!(fb.data(), &[1, 2, 3, 4]);
    }

    #[test]
    fn new_checks_bounds() {
        let mut b = [0u8; 10];
        assert!(Frame::new(&mut b, 4, 6).is_ok());
        assert_eq!(
            Frame::new(&mut b, 4, 7).unwrap_err(),
            FrameError::OutOfBounds
        );
        assert_eq!(
            Frame::new(&mut b, usize::MAX, 2).unwrap_err(),
            FrameError::OutOfBounds
        );
    }
}
