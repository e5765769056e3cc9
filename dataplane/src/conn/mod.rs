//! Per-worker connection tables, the IPVS conn state machine and expiry.
