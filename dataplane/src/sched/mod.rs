//! The IPVS scheduler set, one module per scheduler.
