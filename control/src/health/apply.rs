//! Turning a [`HealthEvent`] into a service table change, on the control
//! loop, through the same [`State`] methods `rvsadm -a/-e/-d` use, so a
//! health change gets the same validation (and the same slot handling: a
//! dest removed and re-added gets its counter slot back from the trash).
//!
//! Events are idempotent: `Set` adds the dest when absent and edits it when
//! it differs, `Remove` deletes it when present. An event for a service
//! that is not in the table (deleted with `rvsadm -D`) changes nothing.

use super::{Action, HealthEvent};
use crate::admin::AdminError;
use crate::state::State;

/// Applies one event. `Ok(true)` when the table changed (a new snapshot is
/// due), `Ok(false)` when it already held what the event asks for.
pub fn apply(state: &mut State, event: &HealthEvent) -> Result<bool, AdminError> {
    let Some(svc) = state.service(&event.service) else {
        return Ok(false);
    };
    let (rip, port) = event.action.dest();
    let present = svc.dest(rip, port).map(|d| d.spec);
    match (event.action, present) {
        (Action::Set(want), Some(have)) if have == want => Ok(false),
        (Action::Set(want), Some(_)) => state.edit_dest(&event.service, &want).map(|()| true),
        (Action::Set(want), None) => state.add_dest(&event.service, &want).map(|()| true),
        (Action::Remove { .. }, Some(_)) => {
            state.del_dest(&event.service, rip, port).map(|()| true)
        }
        (Action::Remove { .. }, None) => Ok(false),
    }
}

/// Applies a batch (a resync, or what the engine's channel holds); every
/// event is tried, errors are logged and counted. Returns whether the table
/// changed and how many events failed.
pub fn apply_all<'a>(
    state: &mut State,
    events: impl IntoIterator<Item = &'a HealthEvent>,
) -> (bool, usize) {
    let mut changed = false;
    let mut failed = 0;
    for e in events {
        match apply(state, e) {
            Ok(c) => changed |= c,
            Err(err) => {
                failed += 1;
                let (rip, port) = e.action.dest();
                tracing::warn!(
                    "health: cannot apply {:?} to {} {}: {err}",
                    e.cause,
                    crate::state::key_label(&e.service),
                    crate::state::dest_label(rip, port)
                );
            }
        }
    }
    (changed, failed)
}
