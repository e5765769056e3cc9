//! `MISC_CHECK` and the notify scripts: run a command with a time limit.
//!
//! A check script's exit status is its verdict (keepalived `check_misc.c`):
//! 0 is up, anything else down; with `misc_dynamic`, 1 is down and 2 to 255
//! are up with weight status - 2. A script that outlives its timeout is
//! killed and counts as a failure. Scripts get no stdin and their output is
//! discarded, as keepalived does.

use super::machine::ProbeResult;
use super::plan::Command;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it.
    Signal,
    /// It ran past its timeout and was killed.
    TimedOut,
}

/// Runs `cmd`, killing it after `timeout`.
pub fn run(cmd: &Command, timeout: Duration) -> Result<Exit, String> {
    let mut child = std::process::Command::new(&cmd.program)
        .args(&cmd.args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{}`: {e}", cmd.line))?;
    let deadline = Instant::now() + timeout;
    // Polling is enough here: scripts run for milliseconds to seconds, and
    // this thread has nothing else to do.
    let mut pause = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return Ok(status.code().map_or(Exit::Signal, Exit::Code));
            }
            Ok(None) => {}
            Err(e) => return Err(format!("waiting for `{}`: {e}", cmd.line)),
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(Exit::TimedOut);
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The verdict of a check script.
pub fn probe(cmd: &Command, timeout: Duration, dynamic: bool) -> ProbeResult {
    match run(cmd, timeout) {
        Ok(Exit::Code(0)) => ProbeResult::up(),
        Ok(Exit::Code(c)) if dynamic && (2..=255).contains(&c) => ProbeResult {
            ok: true,
            weight: u32::try_from(c - 2).ok(),
            detail: format!("exit {c}: weight {}", c - 2),
        },
        Ok(Exit::Code(c)) => ProbeResult::down(format!("`{}` exited with {c}", cmd.line)),
        Ok(Exit::Signal) => ProbeResult::down(format!("`{}` was killed by a signal", cmd.line)),
        Ok(Exit::TimedOut) => ProbeResult::down(format!(
            "`{}` ran longer than {} ms",
            cmd.line,
            timeout.as_millis()
        )),
        Err(e) => ProbeResult::down(e),
    }
}
