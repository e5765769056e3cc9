//! The dest overload flag (`IP_VS_DEST_F_OVERLOAD`) and its connection
//! thresholds (ipvsadm `-x` upper, `-y` lower), as `ip_vs_conn.c` and
//! `ip_vs_ctl.c` keep them. Conns counted are active + inactive (templates
//! excluded). The flag has hysteresis: it is set when a bind brings the total
//! to the upper threshold, and cleared only when an unbind brings it below
//! the lower threshold (or below 3/4 of the upper one when no lower one is
//! set).

/// A dest's connection thresholds; 0 means "no threshold".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Thresholds {
    /// `u_threshold`: at this many conns the dest becomes overloaded.
    pub upper: u32,
    /// `l_threshold`: below this many conns it stops being overloaded.
    pub lower: u32,
}

impl Thresholds {
    /// The flag after a conn was bound to the dest (`ip_vs_bind_dest`),
    /// `total` counting the new conn.
    pub fn after_bind(self, overloaded: bool, total: u32) -> bool {
        overloaded || (self.upper != 0 && total >= self.upper)
    }

    /// The flag after a conn left the dest (`ip_vs_unbind_dest`), `total`
    /// no longer counting it.
    pub fn after_unbind(self, overloaded: bool, total: u32) -> bool {
        if self.lower != 0 {
            overloaded && total >= self.lower
        } else if self.upper != 0 {
            overloaded && u64::from(total) * 4 >= u64::from(self.upper) * 3
        } else {
            false
        }
    }

    /// The flag after the operator edited the thresholds
    /// (`__ip_vs_update_dest`): removing the upper threshold or raising it
    /// clears the flag.
    pub fn after_edit(old: Thresholds, new: Thresholds, overloaded: bool) -> bool {
        overloaded && new.upper != 0 && new.upper <= old.upper
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_with_lower_threshold() {
        let t = Thresholds {
            upper: 10,
            lower: 5,
        };
        assert!(!t.after_bind(false, 9));
        assert!(t.after_bind(false, 10));
        assert!(t.after_unbind(true, 9));
        assert!(t.after_unbind(true, 5));
        assert!(!t.after_unbind(true, 4));
        assert!(!t.after_unbind(false, 7));
    }

    #[test]
    fn three_quarters_of_upper_without_lower() {
        let t = Thresholds { upper: 8, lower: 0 };
        assert!(t.after_bind(false, 8));
        assert!(t.after_unbind(true, 6)); // 24 >= 24
        assert!(!t.after_unbind(true, 5)); // 20 < 24
        let none = Thresholds::default();
        assert!(!none.after_bind(false, 1_000_000));
        assert!(!none.after_unbind(true, 1_000_000));
    }

    #[test]
    fn edit_clears_when_raised_or_removed() {
        let old = Thresholds {
            upper: 10,
            lower: 0,
        };
        assert!(!Thresholds::after_edit(
            old,
            Thresholds {
                upper: 20,
                lower: 0
            },
            true
        ));
        assert!(!Thresholds::after_edit(old, Thresholds::default(), true));
        assert!(Thresholds::after_edit(
            old,
            Thresholds {
                upper: 10,
                lower: 3
            },
            true
        ));
        assert!(Thresholds::after_edit(
            old,
            Thresholds { upper: 5, lower: 0 },
            true
        ));
    }
}
