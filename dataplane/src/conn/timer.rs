//! Conn expiry: a hashed timer wheel with lazy re-insertion, driven by the
//! time the caller passes in.
//!
//! IPVS arms one kernel timer per conn and re-arms it on every packet. Here a
//! conn sits in one wheel slot, chosen by the tick of its deadline
//! (`ceil(expires / tick)`, modulo the number of slots), on an intrusive
//! doubly linked list whose links live in the conn itself (no allocation, no
//! per-conn timer object). A packet that pushes the deadline later only
//! writes the new deadline: the conn stays where it is, and when its slot
//! comes round it is found not due and moved to the slot of its new deadline.
//! So a refresh is O(1) and touches only the conn, and a conn is visited once
//! per deadline it had, or once per lap of the wheel for deadlines further
//! away than a lap. A deadline moved earlier (ESTABLISHED -> CLOSE after a
//! RST) moves the conn at once, so it is never kept past its deadline.
//!
//! [`TimerWheel::pop_expired`] does a bounded amount of work per call (each
//! slot visited and each conn examined costs one unit of the budget), so the
//! worker can interleave expiry with packet bursts and never scans the table.
//! A conn expires at the first call whose `now` is at or past its deadline
//! rounded up to a tick: never early, and at most one tick late.

use crate::time::Time;

/// "No conn": end of a list, or an unlinked conn.
pub const NIL: u32 = u32::MAX;
/// Marks `prev` of a list head; the low bits say which list.
const HEAD: u32 = 1 << 31;

/// The wheel links embedded in a conn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerLink {
    /// Previous conn in the list, `HEAD | list` for the first, `NIL` if unlinked.
    prev: u32,
    /// Next conn in the list, or `NIL`.
    next: u32,
    /// Low 32 bits of the tick the conn is queued for.
    tick: u32,
}

impl TimerLink {
    /// An unlinked entry.
    pub const UNLINKED: TimerLink = TimerLink {
        prev: NIL,
        next: NIL,
        tick: 0,
    };

    /// True while the conn is on one of the wheel's lists.
    pub const fn is_linked(&self) -> bool {
        self.prev != NIL
    }

    /// The next-pointer, reused by the table for its free list while the slot
    /// is not on the wheel.
    pub(crate) fn free_next(&self) -> u32 {
        self.next
    }

    /// Sets the free-list next-pointer of an unlinked slot.
    pub(crate) fn set_free_next(&mut self, next: u32) {
        debug_assert!(!self.is_linked());
        self.next = next;
    }
}

/// Something kept on the wheel: it has a deadline and embeds its links.
pub trait Timed {
    /// The wheel links.
    fn link(&self) -> &TimerLink;
    /// The wheel links, to update.
    fn link_mut(&mut self) -> &mut TimerLink;
    /// The current deadline.
    fn expires(&self) -> Time;
}

/// Shape of the wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelConfig {
    /// A tick lasts 2^`tick_shift` ns (a power of two, so placing a deadline
    /// is a shift, not a division). 24 gives 16.8 ms.
    pub tick_shift: u8,
    /// Number of slots, a power of two; `slots << tick_shift` ns is one lap.
    pub slots: u32,
}

impl Default for WheelConfig {
    /// 16.8 ms ticks, 32768 slots: a lap of 550 s, so an ESTABLISHED conn
    /// (900 s) is looked at about twice per timeout, for 128 KiB of heads.
    fn default() -> Self {
        WheelConfig {
            tick_shift: 24,
            slots: 1 << 15,
        }
    }
}

/// A configuration the wheel cannot work with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WheelConfigError {
    /// `slots` must be a power of two between 1 and 2^30.
    BadSlots,
    /// `tick_shift` must be below 63.
    BadTickShift,
}

/// The wheel: list heads per slot plus the list of conns due now.
#[derive(Debug, Clone)]
pub struct TimerWheel {
    /// `slots` slot heads, then the head of the due list.
    heads: Vec<u32>,
    mask: u64,
    shift: u8,
    /// The lowest tick whose slot has not been detached yet.
    next_tick: u64,
}

impl TimerWheel {
    /// An empty wheel whose clock starts at `start`.
    pub fn new(cfg: WheelConfig, start: Time) -> Result<Self, WheelConfigError> {
        if !cfg.slots.is_power_of_two() || cfg.slots > 1 << 30 {
            return Err(WheelConfigError::BadSlots);
        }
        if cfg.tick_shift >= 63 {
            return Err(WheelConfigError::BadTickShift);
        }
        let slots = usize::try_from(cfg.slots).map_err(|_| WheelConfigError::BadSlots)?;
        Ok(TimerWheel {
            heads: vec![NIL; slots + 1],
            mask: u64::from(cfg.slots) - 1,
            shift: cfg.tick_shift,
            next_tick: start.as_nanos() >> cfg.tick_shift,
        })
    }

    /// Bytes held by the wheel itself (the heads), for memory accounting.
    pub fn heap_bytes(&self) -> usize {
        self.heads.capacity() * core::mem::size_of::<u32>()
    }

    fn due_list(&self) -> usize {
        self.heads.len() - 1
    }

    /// The tick at or after a deadline: the first tick whose start is not
    /// before it.
    fn tick_of(&self, expires: Time) -> u64 {
        let ns = expires.as_nanos();
        let whole = ns >> self.shift;
        if ns & ((1u64 << self.shift) - 1) == 0 {
            whole
        } else {
            whole + 1
        }
    }

    /// A stored 32-bit tick widened back, assuming it is within 2^31 ticks
    /// of the wheel's clock (years at the default tick).
    fn widen(&self, tick: u32) -> u64 {
        #[allow(clippy::cast_possible_truncation)] // only the low bits take part
        let low = self.next_tick as u32;
        #[allow(clippy::cast_possible_wrap)] // the wrapped difference is the signed distance
        let delta = tick.wrapping_sub(low) as i32;
        self.next_tick.wrapping_add_signed(i64::from(delta))
    }

    fn push<T: Timed>(&mut self, slab: &mut [T], idx: u32, list: usize, tick: u64) {
        let old = self.heads[list];
        if old != NIL {
            slab[old as usize].link_mut().prev = idx;
        }
        #[allow(clippy::cast_possible_truncation)] // list <= 2^30, checked in new()
        let head_mark = HEAD | list as u32;
        #[allow(clippy::cast_possible_truncation)] // keeping the low 32 bits is the format
        let tick = tick as u32;
        *slab[idx as usize].link_mut() = TimerLink {
            prev: head_mark,
            next: old,
            tick,
        };
        self.heads[list] = idx;
    }

    /// Takes a conn off whatever list it is on; no-op if it is on none.
    pub fn unlink<T: Timed>(&mut self, slab: &mut [T], idx: u32) {
        let TimerLink { prev, next, .. } = *slab[idx as usize].link();
        if prev == NIL {
            return;
        }
        if next != NIL {
            slab[next as usize].link_mut().prev = prev;
        }
        if prev & HEAD != 0 {
            self.heads[(prev & !HEAD) as usize] = next;
        } else {
            slab[prev as usize].link_mut().next = next;
        }
        let link = slab[idx as usize].link_mut();
        link.prev = NIL;
        link.next = NIL;
    }

    /// (Re)arms the timer of conn `idx` for its current deadline
    /// (`slab[idx].expires()`). O(1): a later deadline is picked up lazily.
    pub fn schedule<T: Timed>(&mut self, slab: &mut [T], idx: u32) {
        let tick = self.tick_of(slab[idx as usize].expires());
        let link = *slab[idx as usize].link();
        if link.is_linked() {
            if tick >= self.widen(link.tick) {
                // Visited no later than needed: re-queued then if still alive.
                return;
            }
            self.unlink(slab, idx);
        }
        self.link_at(slab, idx, tick);
    }

    fn link_at<T: Timed>(&mut self, slab: &mut [T], idx: u32, tick: u64) {
        if tick < self.next_tick {
            // Its slot has already been passed: check it with the due ones.
            self.push(slab, idx, self.due_list(), tick);
        } else {
            #[allow(clippy::cast_possible_truncation)] // masked to below `slots`
            let slot = (tick & self.mask) as usize;
            self.push(slab, idx, slot, tick);
        }
    }

    /// The next conn whose deadline is at or before `now`, unlinked from the
    /// wheel; the caller removes it. Each slot visited and each conn looked
    /// at takes one unit from `budget`; `None` when nothing more is due or
    /// the budget is spent (the work left is resumed by the next call).
    pub fn pop_expired<T: Timed>(
        &mut self,
        slab: &mut [T],
        now: Time,
        budget: &mut u32,
    ) -> Option<u32> {
        let due = self.due_list();
        loop {
            if *budget == 0 {
                return None;
            }
            let head = self.heads[due];
            if head != NIL {
                *budget -= 1;
                self.unlink(slab, head);
                let expires = slab[head as usize].expires();
                if expires <= now {
                    return Some(head);
                }
                // Refreshed since it was queued: its new tick is past `now`,
                // so it lands in a slot, never back on the due list.
                let tick = self.tick_of(expires);
                self.link_at(slab, head, tick);
                continue;
            }
            let now_tick = now.as_nanos() >> self.shift;
            if self.next_tick > now_tick {
                return None;
            }
            let slots = self.mask + 1;
            if now_tick - self.next_tick >= slots {
                // Far behind (idle, or a clock jump): one lap of slots ending
                // at `now_tick` visits every slot, hence every conn, once.
                self.next_tick = now_tick + 1 - slots;
            }
            #[allow(clippy::cast_possible_truncation)] // masked to below `slots`
            let slot = (self.next_tick & self.mask) as usize;
            let first = self.heads[slot];
            self.heads[slot] = NIL;
            self.heads[due] = first;
            if first != NIL {
                #[allow(clippy::cast_possible_truncation)] // due <= 2^30
                let mark = HEAD | due as u32;
                slab[first as usize].link_mut().prev = mark;
            }
            self.next_tick += 1;
            *budget -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct Entry {
        link: TimerLink,
        expires: Time,
    }

    impl Timed for Entry {
        fn link(&self) -> &TimerLink {
            &self.link
        }
        fn link_mut(&mut self) -> &mut TimerLink {
            &mut self.link
        }
        fn expires(&self) -> Time {
            self.expires
        }
    }

    fn slab(n: usize) -> Vec<Entry> {
        vec![
            Entry {
                link: TimerLink::UNLINKED,
                expires: Time::ZERO
            };
            n
        ]
    }

    fn drain(w: &mut TimerWheel, s: &mut [Entry], now: Time) -> Vec<u32> {
        let mut budget = u32::MAX;
        let mut out = Vec::new();
        while let Some(i) = w.pop_expired(s, now, &mut budget) {
            out.push(i);
        }
        out.sort_unstable();
        out
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn rejects_bad_shapes() {
        let bad = WheelConfig {
            tick_shift: 10,
            slots: 3,
        };
        assert_eq!(
            TimerWheel::new(bad, Time::ZERO).unwrap_err(),
            WheelConfigError::BadSlots
        );
        let bad = WheelConfig {
            tick_shift: 63,
            slots: 4,
        };
        assert_eq!(
            TimerWheel::new(bad, Time::ZERO).unwrap_err(),
            WheelConfigError::BadTickShift
        );
    }

    #[test]
    fn exact_with_nanosecond_ticks() {
        let mut w = TimerWheel::new(
            WheelConfig {
                tick_shift: 0,
                slots: 64,
            },
            Time::ZERO,
        )
        .unwrap();
        let mut s = slab(3);
        for (i, at) in [(0u32, 1000u64), (1, 1001), (2, 5_000_000)] {
            s[i as usize].expires = Time::from_nanos(at);
            w.schedule(&mut s, i);
        }
        assert!(drain(&mut w, &mut s, Time::from_nanos(999)).is_empty());
        assert_eq!(drain(&mut w, &mut s, Time::from_nanos(1000)), [0]);
        assert_eq!(drain(&mut w, &mut s, Time::from_nanos(1001)), [1]);
        assert!(drain(&mut w, &mut s, Time::from_nanos(4_999_999)).is_empty());
        assert_eq!(drain(&mut w, &mut s, Time::from_nanos(5_000_000)), [2]);
    }

    #[test]
    fn coarse_ticks_never_early_at_most_one_tick_late() {
        let cfg = WheelConfig {
            tick_shift: 20,
            slots: 16,
        }; // ~1 ms ticks, 16 ms lap
        let tick = 1u64 << 20;
        let mut w = TimerWheel::new(cfg, Time::ZERO).unwrap();
        let mut s = slab(1);
        let deadline = 37 * MS + 5;
        s[0].expires = Time::from_nanos(deadline);
        w.schedule(&mut s, 0);
        let mut t = 0;
        while t < deadline {
            assert!(
                drain(&mut w, &mut s, Time::from_nanos(t)).is_empty(),
                "early at {t}"
            );
            t += 100_000;
        }
        let mut fired = None;
        for step in 0..=tick / 1000 {
            let now = deadline + step * 1000;
            if !drain(&mut w, &mut s, Time::from_nanos(now)).is_empty() {
                fired = Some(now);
                break;
            }
        }
        let fired = fired.expect("never fired");
        assert!(fired >= deadline && fired < deadline + tick);
    }

    #[test]
    fn refreshed_entries_do_not_expire_and_earlier_deadlines_move() {
        let cfg = WheelConfig {
            tick_shift: 20,
            slots: 8,
        };
        let mut w = TimerWheel::new(cfg, Time::ZERO).unwrap();
        let mut s = slab(2);
        s[0].expires = Time::from_nanos(10 * MS);
        s[1].expires = Time::from_nanos(900 * MS);
        w.schedule(&mut s, 0);
        w.schedule(&mut s, 1);
        // Entry 0 is kept alive by "packets" every 5 ms for a second.
        let mut now = 0;
        while now < 1000 * MS {
            now += 5 * MS;
            s[0].expires = Time::from_nanos(now + 10 * MS);
            w.schedule(&mut s, 0);
            let gone = drain(&mut w, &mut s, Time::from_nanos(now));
            if now < 900 * MS {
                assert!(gone.is_empty(), "{gone:?} at {now}");
            } else {
                assert!(!gone.contains(&0));
            }
        }
        assert!(!s[1].link.is_linked(), "entry 1 expired on the way");
        // A deadline moved earlier is honoured at once, not at the old one.
        s[0].expires = Time::from_nanos(now + MS);
        w.schedule(&mut s, 0);
        assert_eq!(drain(&mut w, &mut s, Time::from_nanos(now + 3 * MS)), [0]);
    }

    #[test]
    fn budget_bounds_work_and_resumes() {
        let cfg = WheelConfig {
            tick_shift: 10,
            slots: 1024,
        };
        let mut w = TimerWheel::new(cfg, Time::ZERO).unwrap();
        let mut s = slab(1000);
        for i in 0..1000u32 {
            s[i as usize].expires = Time::from_nanos(5000);
            w.schedule(&mut s, i);
        }
        let now = Time::from_secs(1);
        let mut total = 0;
        let mut calls = 0;
        loop {
            let mut budget = 64;
            let mut got = 0;
            while w.pop_expired(&mut s, now, &mut budget).is_some() {
                got += 1;
            }
            assert!(got <= 64);
            total += got;
            calls += 1;
            if got == 0 && budget > 0 {
                break;
            }
            assert!(calls < 1000, "no progress");
        }
        assert_eq!(total, 1000);
        assert!(s.iter().all(|e| !e.link.is_linked()));
    }

    #[test]
    fn unlink_from_head_middle_and_tail() {
        let mut w = TimerWheel::new(
            WheelConfig {
                tick_shift: 0,
                slots: 4,
            },
            Time::ZERO,
        )
        .unwrap();
        let mut s = slab(4);
        for i in 0..4 {
            s[i as usize].expires = Time::from_nanos(8); // all in one slot
            w.schedule(&mut s, i);
        }
        w.unlink(&mut s, 3); // head (pushed last)
        w.unlink(&mut s, 1); // middle
        w.unlink(&mut s, 0); // tail
        w.unlink(&mut s, 0); // again: no-op
        assert_eq!(drain(&mut w, &mut s, Time::from_nanos(100)), [2]);
    }
}
