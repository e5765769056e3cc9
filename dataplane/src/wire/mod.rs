//! Zero-copy views over protocol headers, one module per header.
