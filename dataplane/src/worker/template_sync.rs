//! Keeps a worker's persistence templates in step with the snapshot it
//! runs: the template table needs a count for every dest slot the snapshot
//! can name, and must forget the templates whose dest left their service,
//! so that the per-slot counts (`ipvsadm -L --persistent-conn`) never credit
//! a dest with another dest's clients when a slot is handed on.

use super::Engine;
use crate::snapshot::Snapshot;

impl<H> Engine<H> {
    /// Called at the end of [`Engine::install`], once `slot_svc` maps every
    /// dest slot of `snap` to its service.
    pub(super) fn sync_templates(&mut self, snap: &Snapshot) {
        self.templates.reserve_slots(self.slot_svc.len());
        let slot_svc = &self.slot_svc;
        self.templates.forget_dests(|service, slot| {
            // A slot of no service maps to NO_SVC, which names no service.
            usize::try_from(slot)
                .ok()
                .and_then(|s| slot_svc.get(s))
                .and_then(|&(si, _)| snap.services.get(si))
                .is_some_and(|s| s.id == service)
        });
    }
}
