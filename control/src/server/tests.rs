//! The socket server against real Unix sockets in a temporary directory,
//! with a stand-in control loop.

use super::*;
use crate::admin::{Timeouts, MAX_FRAME_LEN};
use std::io::{Read, Write};
use std::sync::atomic::AtomicU32;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn temp_path() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir()
        .join(format!("rvs-h7-admin-{}-{n}", std::process::id()))
        .join("sub")
        .join("rvsd.sock")
}

/// A control loop answering GetTimeouts with fixed numbers and Done
/// otherwise, until the server goes away.
fn serve_in_background(server: &AdminServer) -> std::thread::JoinHandle<usize> {
    let rx = server.requests().clone();
    std::thread::spawn(move || {
        let mut n = 0;
        while let Ok(call) = rx.recv() {
            n += 1;
            let r = match call.request {
                Request::GetTimeouts => Response::Timeouts(Timeouts {
                    tcp: 1,
                    tcp_fin: 2,
                    udp: 3,
                }),
                _ => Response::Done,
            };
            call.respond(r);
        }
        n
    })
}

fn ask(stream: &mut UnixStream, req: Request) -> Response {
    write_frame(stream, &RequestEnvelope::new(req)).unwrap();
    let env: ResponseEnvelope = read_frame(stream).unwrap();
    env.into_checked().unwrap()
}

fn cleanup(path: &Path) {
    if let Some(top) = path.parent().and_then(Path::parent) {
        let _ = std::fs::remove_dir_all(top);
    }
}

#[test]
fn socket_is_private_and_answers_many_clients() {
    let path = temp_path();
    let server = AdminServer::bind(&path, None).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let control = serve_in_background(&server);
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let p = path.clone();
            std::thread::spawn(move || {
                let mut s = UnixStream::connect(&p).unwrap();
                for _ in 0..10 {
                    assert_eq!(
                        ask(&mut s, Request::GetTimeouts),
                        Response::Timeouts(Timeouts {
                            tcp: 1,
                            tcp_fin: 2,
                            udp: 3
                        })
                    );
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    drop(server);
    assert_eq!(control.join().unwrap(), 80);
    assert!(!path.exists(), "the socket file goes with the server");
    cleanup(&path);
}

#[test]
fn bad_frames_get_error_replies_and_the_server_carries_on() {
    let path = temp_path();
    let server = AdminServer::bind(&path, None).unwrap();
    let control = serve_in_background(&server);
    // Malformed: a whole frame of garbage. Error reply, connection kept.
    let mut s = UnixStream::connect(&path).unwrap();
    let junk = b"this is not RON";
    s.write_all(&u32::try_from(junk.len()).unwrap().to_be_bytes())
        .unwrap();
    s.write_all(junk).unwrap();
    let env: ResponseEnvelope = read_frame(&mut s).unwrap();
    assert!(
        matches!(env.response, Response::Error(AdminError::Invalid(ref m)) if m.contains("malformed")),
        "{env:?}"
    );
    assert_eq!(ask(&mut s, Request::Clear), Response::Done);
    // Oversized: error reply, then the server closes this connection.
    let mut big = UnixStream::connect(&path).unwrap();
    big.write_all(&(MAX_FRAME_LEN + 1).to_be_bytes()).unwrap();
    let env: ResponseEnvelope = read_frame(&mut big).unwrap();
    assert!(
        matches!(env.response, Response::Error(AdminError::Invalid(ref m)) if m.contains("exceeds")),
        "{env:?}"
    );
    let mut rest = Vec::new();
    assert_eq!(big.read_to_end(&mut rest).unwrap(), 0, "closed");
    // A wrong protocol version is answered, not dropped.
    write_frame(
        &mut s,
        &RequestEnvelope {
            version: PROTOCOL_VERSION + 1,
            request: Request::Clear,
        },
    )
    .unwrap();
    let env: ResponseEnvelope = read_frame(&mut s).unwrap();
    assert!(matches!(
        env.response,
        Response::Error(AdminError::VersionMismatch { .. })
    ));
    // Other clients are served as before.
    let mut other = UnixStream::connect(&path).unwrap();
    assert_eq!(ask(&mut other, Request::Clear), Response::Done);
    // Client threads hold the request channel until their peer leaves.
    drop((s, other, big));
    drop(server);
    control.join().unwrap();
    cleanup(&path);
}

#[test]
fn stale_sockets_are_replaced_and_live_ones_refused() {
    let path = temp_path();
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    // A socket nobody listens on any more (a dead rvsd's).
    drop(UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = AdminServer::bind(&path, None).unwrap();
    assert!(matches!(
        AdminServer::bind(&path, None),
        Err(ServerError::InUse(_))
    ));
    drop(server);
    std::fs::write(&path, b"not a socket").unwrap();
    assert!(matches!(
        AdminServer::bind(&path, None),
        Err(ServerError::NotASocket(_))
    ));
    assert!(matches!(
        AdminServer::bind(&path, Some("no-such-group-rvs-h7")),
        Err(ServerError::NoSuchGroup(_))
    ));
    cleanup(&path);
}

#[test]
fn group_sockets_are_0660_and_group_owned() {
    use std::os::unix::fs::MetadataExt;
    let path = temp_path();
    let gid = rustix::process::getgid().as_raw();
    let server = AdminServer::bind(&path, Some(&gid.to_string())).unwrap();
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid);
    drop(server);
    cleanup(&path);
}

#[test]
fn peer_policy() {
    let peer = |uid, gid, groups: &[u32]| Peer {
        uid,
        gid,
        groups: groups.to_vec(),
    };
    assert!(peer_allowed(&peer(0, 0, &[]), 1000, None));
    assert!(peer_allowed(&peer(1000, 1000, &[]), 1000, None));
    assert!(!peer_allowed(&peer(1001, 1001, &[]), 1000, None));
    assert!(!peer_allowed(&peer(1001, 1001, &[27]), 1000, None));
    assert!(peer_allowed(&peer(1001, 27, &[]), 1000, Some(27)));
    assert!(peer_allowed(&peer(1001, 1001, &[4, 27]), 1000, Some(27)));
    assert!(!peer_allowed(&peer(1001, 1001, &[4]), 1000, Some(27)));
}

#[test]
fn group_and_status_parsing() {
    let etc = "root:x:0:\nrvs:x:990:alice,bob\nbad:x:notanumber:\n";
    assert_eq!(group_id_in(etc, "rvs"), Some(990));
    assert_eq!(group_id_in(etc, "rv"), None);
    assert_eq!(group_id_in(etc, "bad"), None);
    assert_eq!(group_id("42").unwrap(), 42);
    let status =
        "Name:\trvsadm\nUid:\t1000\t1000\t1000\t1000\nGroups:\t4 24 27 990 \nVmPeak:\t1 kB\n";
    assert_eq!(groups_in_status(status), vec![4, 24, 27, 990]);
    assert_eq!(groups_in_status("Name:\tx\n"), Vec::<u32>::new());
}
