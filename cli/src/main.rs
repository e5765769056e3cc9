//! The `rvsadm` binary: ipvsadm's command line, rvsd's admin socket.
#![forbid(unsafe_code)]

use rvsadm::app::{run, take_socket_option, Streams};
use rvsadm::client::{UnixTransport, DEFAULT_SOCKET, SOCKET_ENV};
use rvsadm::names::NameDb;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    let program = argv.first().cloned().unwrap_or_else(|| "rvsadm".to_owned());
    let (args, socket) = match take_socket_option(&argv) {
        Ok(v) => v,
        Err(e) => {
            eprint!("{}", e.render(&program));
            std::process::exit(e.exit_code());
        }
    };
    // --socket beats $RVS_SOCKET beats the default path.
    let socket = socket
        .or_else(|| std::env::var(SOCKET_ENV).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_SOCKET.to_owned());
    let mut transport = UnixTransport::new(socket);
    let resolver = NameDb::system();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut stdin = stdin.lock();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let code = run(
        &args,
        &mut transport,
        &resolver,
        &mut Streams {
            stdin: &mut stdin,
            out: &mut out,
            err: &mut err,
        },
    );
    drop(out);
    std::process::exit(code);
}
