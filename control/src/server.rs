//! The admin socket server: a Unix stream socket that `rvsadm` connects to.
//!
//! [`AdminServer::bind`] makes the socket (parent directory created, a stale
//! socket from a dead rvsd removed, mode 0600, or 0660 and group-owned when
//! an admin group is configured). One thread accepts; each client gets its
//! own thread (at most [`MAX_CLIENTS`] at once) that checks the peer's
//! credentials (`SO_PEERCRED`), reads request frames, hands each request to
//! the control loop through [`AdminServer::requests`] and writes the answer
//! back. The control loop owns the state, so the server never touches it.
//!
//! A bad client cannot hurt the daemon: a malformed frame gets an error
//! reply and the connection stays usable (the frame was read whole); an
//! oversized frame gets an error reply and the connection is closed (the
//! stream cannot be resynchronised without reading the announced bytes);
//! an idle or stuck client is dropped after [`CLIENT_TIMEOUT`].

use crate::admin::{
    read_frame, write_frame, AdminError, FrameError, Request, RequestEnvelope, Response,
    ResponseEnvelope, PROTOCOL_VERSION,
};
use crossbeam_channel::{bounded, Receiver, Sender};
use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Most clients served at once; more are refused with an error reply.
pub const MAX_CLIENTS: usize = 32;

/// A client that sends nothing (or cannot take its answer) for this long is
/// dropped.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Requests waiting for the control loop before clients block.
const QUEUE: usize = 64;

/// Why the admin socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A filesystem or socket call failed.
    #[error("admin socket {path}: {what}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The step that failed.
        what: &'static str,
        /// The OS error.
        source: io::Error,
    },
    /// Another rvsd answers on the socket.
    #[error("admin socket {0} is in use by a running rvsd; stop it or set another `admin_socket`")]
    InUse(PathBuf),
    /// Something that is not a socket sits at the path.
    #[error(
        "admin socket {0} exists and is not a socket; remove it or set another `admin_socket`"
    )]
    NotASocket(PathBuf),
    /// The admin group does not exist.
    #[error("admin_group `{0}` is not a group on this system (see /etc/group)")]
    NoSuchGroup(String),
}

/// One request from a client, waiting for the control loop's answer.
#[derive(Debug)]
pub struct Call {
    /// The request.
    pub request: Request,
    reply: Sender<Response>,
}

impl Call {
    /// Sends the answer back to the client (a client that went away is
    /// not an error).
    pub fn respond(self, response: Response) {
        let _ = self.reply.send(response);
    }
}

/// A peer's credentials as `SO_PEERCRED` and `/proc` give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
}

/// Who may use the admin socket: root, rvsd's own user, and members
/// (primary or supplementary) of the admin group when one is configured.
pub fn peer_allowed(peer: &Peer, own_uid: u32, admin_gid: Option<u32>) -> bool {
    peer.uid == 0
        || peer.uid == own_uid
        || admin_gid.is_some_and(|g| peer.gid == g || peer.groups.contains(&g))
}

/// The gid of group `name` (a name from `/etc/group`, or a number).
pub fn group_id(name: &str) -> Result<u32, ServerError> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let text = std::fs::read_to_string("/etc/group").unwrap_or_default();
    group_id_in(&text, name).ok_or_else(|| ServerError::NoSuchGroup(name.to_owned()))
}

/// Looks `name` up in `/etc/group` text (`name:passwd:gid:members`).
pub fn group_id_in(etc_group: &str, name: &str) -> Option<u32> {
    etc_group.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.next()?;
        f.next()?.trim().parse().ok()
    })
}

/// The supplementary groups in a `/proc/PID/status` text ("Groups:" line).
pub fn groups_in_status(status: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The admin socket server. Dropping it stops accepting and removes the
/// socket file.
#[derive(Debug)]
pub struct AdminServer {
    path: PathBuf,
    calls: Receiver<Call>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl AdminServer {
    /// Creates the socket at `path` and starts accepting clients. `group`
    /// is the optional admin group.
    pub fn bind(path: &Path, group: Option<&str>) -> Result<AdminServer, ServerError> {
        let io_err = |what: &'static str| {
            let path = path.to_owned();
            move |source| ServerError::Io { path, what, source }
        };
        let gid = group.map(group_id).transpose()?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io_err("cannot create its directory"))?;
        }
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(ServerError::InUse(path.to_owned()));
                }
                // Left behind by an rvsd that died: nobody listens.
                std::fs::remove_file(path).map_err(io_err("cannot remove the stale socket"))?;
            }
            Ok(_) => return Err(ServerError::NotASocket(path.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot inspect the path")(e)),
        }
        let listener = UnixListener::bind(path).map_err(io_err("cannot bind"))?;
        let mode = if gid.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(io_err("cannot set its mode"))?;
        if let Some(g) = gid {
            std::os::unix::fs::chown(path, None, Some(g))
                .map_err(io_err("cannot give it to the admin group"))?;
        }
        let (tx, calls) = bounded(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let ctx = Ctx {
            calls: tx,
            own_uid: rustix::process::getuid().as_raw(),
            admin_gid: gid,
            clients: Arc::new(AtomicUsize::new(0)),
        };
        let stop2 = Arc::clone(&stop);
        let accept = std::thread::Builder::new()
            .name("rvs-admin".into())
            .spawn(move || accept_loop(&listener, &stop2, &ctx))
            .map_err(io_err("cannot start its thread"))?;
        Ok(AdminServer {
            path: path.to_owned(),
            calls,
            stop,
            accept: Some(accept),
        })
    }

    /// The requests from clients, for the control loop: answer each with
    /// [`Call::respond`] (see [`crate::handler::handle`]).
    pub fn requests(&self) -> &Receiver<Call> {
        &self.calls
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Clone)]
struct Ctx {
    calls: Sender<Call>,
    own_uid: u32,
    admin_gid: Option<u32>,
    clients: Arc<AtomicUsize>,
}

fn accept_loop(listener: &UnixListener, stop: &AtomicBool, ctx: &Ctx) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut stream) = stream else { continue };
        let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
        if ctx.clients.fetch_add(1, Ordering::SeqCst) >= MAX_CLIENTS {
            ctx.clients.fetch_sub(1, Ordering::SeqCst);
            reply(
                &mut stream,
                Response::Error(AdminError::Unsupported(format!(
                    "rvsd is serving {MAX_CLIENTS} admin clients already; try again"
                ))),
            );
            continue;
        }
        let c = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("rvs-admin-client".into())
            .spawn(move || {
                serve(stream, &c);
                c.clients.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            ctx.clients.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn peer_of(stream: &UnixStream) -> Option<Peer> {
    let cred = rustix::net::sockopt::socket_peercred(stream).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", cred.pid.as_raw_nonzero()))
        .unwrap_or_default();
    Some(Peer {
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
        groups: groups_in_status(&status),
    })
}

fn reply(stream: &mut UnixStream, response: Response) -> bool {
    write_frame(stream, &ResponseEnvelope::new(response)).is_ok()
}

fn serve(mut stream: UnixStream, ctx: &Ctx) {
    let allowed = peer_of(&stream).is_some_and(|p| peer_allowed(&p, ctx.own_uid, ctx.admin_gid));
    if !allowed {
        reply(&mut stream, Response::Error(AdminError::PermissionDenied));
        return;
    }
    loop {
        let env: RequestEnvelope = match read_frame(&mut stream) {
            Ok(env) => env,
            Err(FrameError::Closed | FrameError::Truncated | FrameError::Io(_)) => return,
            Err(e @ FrameError::TooLarge { .. }) => {
                reply(
                    &mut stream,
                    Response::Error(AdminError::Invalid(e.to_string())),
                );
                return;
            }
            Err(e @ (FrameError::NotUtf8 | FrameError::Malformed(_))) => {
                if reply(
                    &mut stream,
                    Response::Error(AdminError::Invalid(e.to_string())),
                ) {
                    continue;
                }
                return;
            }
        };
        let response = if env.version == PROTOCOL_VERSION {
            call(ctx, env.request)
        } else {
            Response::Error(AdminError::VersionMismatch {
                client: env.version,
                server: PROTOCOL_VERSION,
            })
        };
        if !reply(&mut stream, response) {
            return;
        }
    }
}

fn call(ctx: &Ctx, request: Request) -> Response {
    let (reply, answer) = bounded(1);
    if ctx.calls.send(Call { request, reply }).is_err() {
        return Response::Error(AdminError::Internal(
            "the control loop is not running".to_owned(),
        ));
    }
    answer.recv().unwrap_or_else(|_| {
        Response::Error(AdminError::Internal(
            "the control loop dropped the request".to_owned(),
        ))
    })
}

#[cfg(test)]
mod tests;
