//! The example configuration shipped in examples/ stays valid.

use control::config::Config;
use std::path::Path;

#[test]
fn example_config_parses_and_validates() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/rvsd.ron");
    let c = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.interfaces[0].device_name(), "0000:03:00.0");
    assert!(!c.interfaces[0].is_vdev());
    assert_eq!(c.eal_lcore_list(), "0@0,1@1,2@2");
}
