//! Length-prefixed framing of admin messages over any byte stream (the Unix
//! socket in practice, a `Vec<u8>` in tests).
//!
//! A frame is a 4-byte big-endian payload length followed by the payload: a
//! RON text (UTF-8) of one envelope. RON is what the config file already
//! uses, is serde-compatible and readable in a packet capture. A length over
//! [`MAX_FRAME_LEN`], a short read, bad UTF-8 or text that does not
//! deserialize give a [`FrameError`], never a panic, and the reader never
//! allocates more than the announced (bounded) length.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{self, Read, Write};

/// The largest payload accepted or sent: 64 MiB, room for a conn listing of
/// a few hundred thousand rows while bounding what a bad peer can make us
/// allocate.
pub const MAX_FRAME_LEN: u32 = 64 * 1024 * 1024;

/// Why a frame could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream failed.
    #[error("admin socket I/O error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the stream cleanly before a new frame began.
    #[error("the peer closed the connection")]
    Closed,
    /// The stream ended inside a frame.
    #[error("the connection closed in the middle of a frame")]
    Truncated,
    /// The announced or produced payload exceeds [`MAX_FRAME_LEN`].
    #[error("admin frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Payload length.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// The payload is not UTF-8.
    #[error("admin frame is not UTF-8 text")]
    NotUtf8,
    /// The payload is not a valid message.
    #[error("malformed admin message: {0}")]
    Malformed(String),
}

/// Serializes `msg` and writes it as one frame.
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    let text = ron::to_string(msg).map_err(|e| FrameError::Malformed(e.to_string()))?;
    let len = u32::try_from(text.len())
        .ok()
        .filter(|&l| l <= MAX_FRAME_LEN)
        .ok_or(FrameError::TooLarge {
            len: u64::try_from(text.len()).unwrap_or(u64::MAX),
            max: MAX_FRAME_LEN,
        })?;
    let mut buf = Vec::with_capacity(text.len() + 4);
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(text.as_bytes());
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame and deserializes it. A clean end of stream before the
/// first length byte is [`FrameError::Closed`].
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<T, FrameError> {
    let mut len_buf = [0u8; 4];
    let mut got = 0;
    while got < len_buf.len() {
        match r.read(&mut len_buf[got..]) {
            Ok(0) if got == 0 => return Err(FrameError::Closed),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(FrameError::Io(e)),
        }
    }
    let len = u32::from_be_bytes(len_buf);
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            max: MAX_FRAME_LEN,
        });
    }
    let len = usize::try_from(len).map_err(|_| FrameError::TooLarge {
        len: u64::from(len),
        max: MAX_FRAME_LEN,
    })?;
    let mut payload = Vec::new();
    // `take` bounds the read by the announced length; fewer bytes means the
    // peer went away mid-frame.
    r.take(u64::try_from(len).unwrap_or(u64::MAX))
        .read_to_end(&mut payload)?;
    if payload.len() != len {
        return Err(FrameError::Truncated);
    }
    let text = std::str::from_utf8(&payload).map_err(|_| FrameError::NotUtf8)?;
    ron::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))
}
