//! The way to rvsd: one request, one response over the admin Unix socket.
//!
//! [`Transport`] is the seam the command runner talks through, so that
//! tests can stand in for the daemon; [`UnixTransport`] is the real one.

use control::admin::{
    read_frame, write_frame, AdminError, FrameError, Request, RequestEnvelope, Response,
    ResponseEnvelope,
};
use std::io;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The admin socket rvsd listens on unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/rvs/rvsd.sock";

/// The environment variable that overrides [`DEFAULT_SOCKET`].
pub const SOCKET_ENV: &str = "RVS_SOCKET";

/// How long rvsadm waits for rvsd before giving up on a request.
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket could not be connected.
    #[error("cannot reach rvsd at {path}: {reason}{}", if *.not_running { " (is rvsd running?)" } else { "" })]
    Connect {
        /// Socket path.
        path: String,
        /// The OS error text, without the "(os error N)" suffix.
        reason: String,
        /// The error says nobody listens there (no socket file, or a stale
        /// one), rather than e.g. a permission problem.
        not_running: bool,
    },
    /// The exchange failed after connecting.
    #[error("lost rvsd at {path}: {source}")]
    Exchange {
        /// Socket path.
        path: String,
        /// What went wrong.
        source: FrameError,
    },
    /// rvsd speaks another protocol version.
    #[error("{0}")]
    Version(AdminError),
}

/// Sends requests to rvsd.
pub trait Transport {
    /// Sends one request and waits for its response.
    fn call(&mut self, request: Request) -> Result<Response, ClientError>;
}

/// A connection per request to rvsd's Unix socket.
#[derive(Debug, Clone)]
pub struct UnixTransport {
    path: PathBuf,
}

impl UnixTransport {
    /// A transport to the socket at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        UnixTransport { path: path.into() }
    }
}

/// `io::Error`'s text without std's " (os error N)" tail, as ipvsadm
/// prints `strerror()`.
fn os_text(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

impl Transport for UnixTransport {
    fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let path = self.path.display().to_string();
        let mut stream = UnixStream::connect(&self.path).map_err(|e| ClientError::Connect {
            path: path.clone(),
            reason: os_text(&e),
            not_running: matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ),
        })?;
        let exchange = |source| ClientError::Exchange {
            path: path.clone(),
            source,
        };
        stream
            .set_read_timeout(Some(IO_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
            .map_err(|e| exchange(FrameError::Io(e)))?;
        write_frame(&mut stream, &RequestEnvelope::new(request)).map_err(exchange)?;
        let env: ResponseEnvelope = read_frame(&mut stream).map_err(exchange)?;
        env.into_checked().map_err(ClientError::Version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn missing_socket_gives_one_clear_line() {
        let dir = std::env::temp_dir().join(format!("rvsadm-test-{}", std::process::id()));
        let path = dir.join("absent.sock");
        let err = UnixTransport::new(&path)
            .call(Request::GetTimeouts)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "cannot reach rvsd at {}: No such file or directory (is rvsd running?)",
                path.display()
            )
        );
    }

    #[test]
    fn request_and_response_cross_a_real_socket() {
        let dir = std::env::temp_dir().join(format!("rvsadm-sock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("rvsd.sock");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let req: RequestEnvelope = read_frame(&mut s).unwrap();
            assert_eq!(req.request, Request::GetTimeouts);
            let resp = ResponseEnvelope::new(Response::Timeouts(control::admin::Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            }));
            write_frame(&mut s, &resp).unwrap();
        });
        let resp = UnixTransport::new(&path)
            .call(Request::GetTimeouts)
            .unwrap();
        server.join().unwrap();
        assert_eq!(
            resp,
            Response::Timeouts(control::admin::Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300
            })
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
