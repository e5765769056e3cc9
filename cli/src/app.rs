//! The command runner: argv in, output and an exit status out.
//!
//! Kept apart from `main` so that tests drive it end to end with a stand-in
//! daemon ([`Transport`]) and fixed name tables. Exit statuses are ipvsadm's:
//! 0 on success, 2 for `fail()` errors (bad input, and here: rvsd
//! unreachable), 255 for popt errors, the "Try" line and refused changes
//! (ipvsadm returns -1 from main), 1 for failed listings.

use crate::client::{ClientError, Transport};
use crate::format::{self, Format};
use crate::help;
use crate::names::Resolver;
use crate::parse::{parse, restore_lines, Command, ListWhat, ParseError};
use control::admin::{AdminError, Response};
use std::io::{Read, Write};

/// Where a run reads and writes.
pub struct Streams<'a> {
    /// `-R` input.
    pub stdin: &'a mut dyn Read,
    /// Listings, help.
    pub out: &'a mut dyn Write,
    /// Errors.
    pub err: &'a mut dyn Write,
}

/// Takes rvs's `--socket PATH` (or `--socket=PATH`) out of argv, wherever
/// it is, so that ipvsadm's "command first" rule still holds for the rest.
pub fn take_socket_option(args: &[String]) -> Result<(Vec<String>, Option<String>), ParseError> {
    let mut rest = Vec::with_capacity(args.len());
    let mut socket = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            rest.push(a.clone());
            rest.extend(it.by_ref().cloned());
            break;
        }
        if a == "--socket" {
            match it.next() {
                Some(p) => socket = Some(p.clone()),
                None => {
                    return Err(ParseError::Popt {
                        word: a.clone(),
                        reason: "missing argument",
                    })
                }
            }
        } else if let Some(p) = a.strip_prefix("--socket=") {
            socket = Some(p.to_owned());
        } else {
            rest.push(a.clone());
        }
    }
    Ok((rest, socket))
}

/// The name rvsadm signs its own messages with: argv\[0\]'s file name.
fn short_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

/// Runs one rvsadm invocation; `args` is argv without `--socket`, starting
/// with the program name. Returns the exit status.
pub fn run(
    args: &[String],
    transport: &mut dyn Transport,
    resolver: &dyn Resolver,
    io: &mut Streams<'_>,
) -> i32 {
    let program = args.first().map_or("rvsadm", String::as_str);
    let rest = args.get(1..).unwrap_or(&[]);
    // rvs extension that needs no daemon: it only reads a file.
    if rest.first().is_some_and(|a| crate::import::is_import(a)) {
        return crate::import::run(short_name(program), rest, io.out, io.err);
    }
    let cmd = match parse(rest, resolver, false) {
        Ok(c) => c,
        Err(e) => {
            let _ = io.err.write_all(e.render(program).as_bytes());
            return e.exit_code();
        }
    };
    match cmd {
        Command::Restore => restore(program, transport, resolver, io),
        cmd => execute(program, &cmd, transport, resolver, io),
    }
}

/// `-R`: every line of stdin as a command. As in ipvsadm, an input error
/// (`fail()`) stops the restore at once; a refused change is reported and
/// the next line runs; the status is that of the last line.
fn restore(
    program: &str,
    transport: &mut dyn Transport,
    resolver: &dyn Resolver,
    io: &mut Streams<'_>,
) -> i32 {
    let mut input = String::new();
    if let Err(e) = io.stdin.read_to_string(&mut input) {
        let _ = writeln!(
            io.err,
            "{}: cannot read rules from stdin: {e}",
            short_name(program)
        );
        return 2;
    }
    let mut result = 0;
    for words in restore_lines(&input) {
        result = match parse(&words, resolver, true) {
            Ok(cmd) => execute(program, &cmd, transport, resolver, io),
            Err(e @ ParseError::Popt { .. }) => {
                let _ = io.err.write_all(e.render(program).as_bytes());
                e.exit_code()
            }
            Err(e) => {
                let _ = io.err.write_all(e.render(program).as_bytes());
                return e.exit_code();
            }
        };
    }
    result
}

fn execute(
    program: &str,
    cmd: &Command,
    transport: &mut dyn Transport,
    resolver: &dyn Resolver,
    io: &mut Streams<'_>,
) -> i32 {
    match cmd {
        Command::Help => {
            let _ = io.out.write_all(help::usage(program).as_bytes());
            return 0;
        }
        Command::Version => {
            let _ = io.out.write_all(help::version().as_bytes());
            return 0;
        }
        _ => {}
    }
    let Some(request) = cmd.request() else {
        // `-L --daemon`: rvs runs no sync daemon, and ipvsadm prints nothing
        // when none runs.
        return 0;
    };
    let listing = matches!(cmd, Command::List(_) | Command::Save { .. });
    let response = match transport.call(request) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(io.err, "{}: {e}", short_name(program));
            return match e {
                ClientError::Version(_) => 1,
                _ => 2,
            };
        }
    };
    if let Response::Error(e) = response {
        let _ = writeln!(io.err, "{e}");
        return if listing { 1 } else { 255 };
    }
    match render(cmd, response, resolver) {
        Ok(text) => {
            let _ = io.out.write_all(text.as_bytes());
            0
        }
        Err(e) => {
            let _ = writeln!(io.err, "{e}");
            1
        }
    }
}

/// The output for a successful response, or an error when the response
/// does not answer the command.
fn render(cmd: &Command, response: Response, resolver: &dyn Resolver) -> Result<String, String> {
    let unexpected = || Err("rvsadm: unexpected response from rvsd".to_owned());
    match (cmd, response) {
        (Command::Save { numeric }, Response::Services { services, .. }) => {
            Ok(format::save(&services, *numeric, resolver))
        }
        (Command::List(l), response) => {
            let f: &Format = &l.format;
            match (l.what, response) {
                (
                    ListWhat::All,
                    Response::Services {
                        conn_table_size,
                        services,
                    },
                ) => Ok(format::list_all(conn_table_size, &services, f, resolver)),
                (ListWhat::Service(_), Response::Services { services, .. }) => {
                    match services.first() {
                        Some(s) => Ok(format::list_service(s, f, resolver)),
                        None => Err(AdminError::NoSuchService.to_string()),
                    }
                }
                (ListWhat::Conns, Response::Conns(c)) => Ok(format::conns(&c, f, resolver)),
                (ListWhat::Timeouts, Response::Timeouts(t)) => Ok(format::timeouts(&t)),
                (ListWhat::Interfaces, Response::Interfaces(i)) => Ok(format::interfaces(&i)),
                (ListWhat::Routes, Response::Routes(r)) => Ok(format::routes(&r)),
                (ListWhat::Neighbours, Response::Neighbours(n)) => Ok(format::neighbours(&n)),
                (ListWhat::LocalAddrs, Response::LocalAddrs(l)) => {
                    Ok(format::local_addrs(&l, f.numeric, resolver))
                }
                (ListWhat::Health, Response::Health(h)) => {
                    Ok(format::health(&h, f.numeric, resolver))
                }
                _ => unexpected(),
            }
        }
        (_, Response::Done) => Ok(String::new()),
        _ => unexpected(),
    }
}
