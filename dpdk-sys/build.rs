//! Generates bindings to the system DPDK and compiles the C shim.
//!
//! Flags come from `pkg-config libdpdk` as the packager wrote them: the
//! pkg-config crate drops `-include rte_config.h` and `-march=...`, which both
//! bindgen and the shim need (../shared/DPDK-NOTES.md), so pkg-config is run
//! directly. Anything missing stops the build with one line naming the
//! Debian packages that provide it.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const APT: &str = "apt-get install -y libdpdk-dev dpdk-dev pkg-config clang libclang-dev";

fn fail(what: &str) -> ! {
    // `cargo::error` prints the line as the build's error; the eprintln is for
    // older cargo, which shows a failing build script's stderr.
    println!("cargo::error={what}; install the build dependencies with: {APT}");
    eprintln!("error: {what}; install the build dependencies with: {APT}");
    std::process::exit(1);
}

fn pkg_config(args: &[&str]) -> String {
    let out = match Command::new("pkg-config")
        .args(args)
        .arg("libdpdk")
        .output()
    {
        Ok(out) => out,
        Err(_) => fail("pkg-config is not installed"),
    };
    if !out.status.success() {
        fail("DPDK development files not found (pkg-config cannot find libdpdk)");
    }
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// bindgen loads libclang at run time and panics with a long message when it
/// is missing; look for it first so the operator gets one clear line.
fn libclang_present() -> bool {
    if let Ok(p) = env::var("LIBCLANG_PATH") {
        if Path::new(&p).exists() {
            return true;
        }
    }
    let mut dirs: Vec<PathBuf> = vec![
        PathBuf::from("/usr/lib/x86_64-linux-gnu"),
        PathBuf::from("/usr/lib/aarch64-linux-gnu"),
        PathBuf::from("/usr/lib64"),
        PathBuf::from("/usr/lib"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("llvm-") {
                dirs.push(e.path().join("lib"));
            }
        }
    }
    dirs.iter().any(|d| {
        std::fs::read_dir(d)
            .map(|rd| {
                rd.flatten().any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    n.starts_with("libclang") && n.contains(".so") && !n.contains("cpp")
                })
            })
            .unwrap_or(false)
    })
}

fn main() {
    println!("cargo:rerun-if-changed=shim/shim.c");
    println!("cargo:rerun-if-changed=shim/shim.h");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=LIBCLANG_PATH");

    let cflags: Vec<String> = pkg_config(&["--cflags"])
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let version = pkg_config(&["--modversion"]);
    println!("cargo:rustc-env=RVS_DPDK_VERSION={version}");
    println!("cargo:version={version}");

    for flag in pkg_config(&["--libs"]).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }

    // rte_vdev_init lives in the vdev bus driver, which `--libs` leaves out
    // (drivers are dlopened as plugins); rvsd creates virtual devices itself
    // so that a bad device argument gets its own error, not an EAL failure.
    println!("cargo:rustc-link-lib=dylib=rte_bus_vdev");
    // rte_eth_from_rings (ports over rings the application owns, for the
    // in-process rate harness) lives in the ring PMD.
    println!("cargo:rustc-link-lib=dylib=rte_net_ring");

    if !libclang_present() {
        fail("libclang not found (bindgen needs it to read the DPDK headers)");
    }

    let mut build = cc::Build::new();
    build.file("shim/shim.c").opt_level(3).warnings(false);
    for f in &cflags {
        build.flag(f);
    }
    build.compile("rvs_dpdk_shim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let bindings = bindgen::Builder::default()
        .header("shim/shim.h")
        .clang_args(&cflags)
        .allowlist_function("rvs_.*")
        .allowlist_function("rte_eal_init")
        .allowlist_function("rte_eal_cleanup")
        .allowlist_function("rte_eal_remote_launch")
        .allowlist_function("rte_eal_wait_lcore")
        .allowlist_function("rte_eal_process_type")
        .allowlist_function("rte_thread_register")
        .allowlist_function("rte_strerror")
        .allowlist_function("rte_socket_id")
        .allowlist_function("rte_lcore_count")
        .allowlist_function("rte_get_main_lcore")
        .allowlist_function("rte_get_tsc_hz")
        .allowlist_function("rte_version")
        .allowlist_function("rte_vdev_init")
        .allowlist_function("rte_vdev_uninit")
        .allowlist_function("rte_pktmbuf_pool_create")
        .allowlist_function("rte_pktmbuf_free_bulk")
        .allowlist_function("rte_mempool_free")
        .allowlist_function("rte_mempool_avail_count")
        .allowlist_function("rte_mempool_in_use_count")
        .allowlist_function("rte_ring_create")
        .allowlist_function("rte_ring_free")
        .allowlist_function("rte_eth_from_rings")
        .allowlist_function("rte_eth_dev_count_avail")
        .allowlist_function("rte_eth_dev_get_port_by_name")
        .allowlist_function("rte_eth_dev_get_name_by_port")
        .allowlist_function("rte_eth_dev_info_get")
        .allowlist_function("rte_eth_dev_configure")
        .allowlist_function("rte_eth_dev_adjust_nb_rx_tx_desc")
        .allowlist_function("rte_eth_rx_queue_setup")
        .allowlist_function("rte_eth_tx_queue_setup")
        .allowlist_function("rte_eth_dev_start")
        .allowlist_function("rte_eth_dev_stop")
        .allowlist_function("rte_eth_dev_close")
        .allowlist_function("rte_eth_dev_socket_id")
        .allowlist_function("rte_eth_dev_set_mtu")
        .allowlist_function("rte_eth_macaddr_get")
        .allowlist_function("rte_eth_link_get_nowait")
        .allowlist_function("rte_eth_promiscuous_enable")
        .allowlist_function("rte_eth_stats_get")
        .allowlist_function("rte_eth_stats_reset")
        .allowlist_function("rte_eth_xstats_get")
        .allowlist_function("rte_eth_xstats_get_names")
        // rte_flow: NIC steering of FullNAT replies (src/dpdk/flow.rs).
        .allowlist_function("rte_flow_validate")
        .allowlist_function("rte_flow_create")
        .allowlist_function("rte_flow_destroy")
        .allowlist_function("rte_flow_flush")
        .allowlist_type("rte_mbuf")
        .allowlist_type("rte_eth_conf")
        .allowlist_type("rte_eth_dev_info")
        .allowlist_type("rte_eth_link")
        .allowlist_type("rte_eth_stats")
        .allowlist_type("rte_eth_xstat")
        .allowlist_type("rte_eth_xstat_name")
        .allowlist_type("rte_ether_addr")
        .allowlist_type("rte_proc_type_t")
        .allowlist_type("rte_flow_attr")
        .allowlist_type("rte_flow_item")
        .allowlist_type("rte_flow_item_type")
        .allowlist_type("rte_flow_item_ipv4")
        .allowlist_type("rte_flow_item_tcp")
        .allowlist_type("rte_flow_item_udp")
        .allowlist_type("rte_flow_action")
        .allowlist_type("rte_flow_action_type")
        .allowlist_type("rte_flow_action_queue")
        .allowlist_type("rte_flow_error")
        .allowlist_type("rte_flow_error_type")
        .allowlist_var("RTE_MAX_LCORE")
        .allowlist_var("RTE_MAX_ETHPORTS")
        .allowlist_var("RTE_PKTMBUF_HEADROOM")
        .allowlist_var("RTE_MBUF_DEFAULT_BUF_SIZE")
        .allowlist_var("RTE_MBUF_DEFAULT_DATAROOM")
        .allowlist_var("RTE_ETH_LINK_.*")
        .allowlist_var("RTE_ETH_NAME_MAX_LEN")
        .allowlist_var("RTE_ETH_XSTATS_NAME_SIZE")
        .allowlist_var("RING_F_.*")
        .allowlist_var("SOCKET_ID_ANY")
        .allowlist_var("LCORE_ID_ANY")
        // Packed structs holding aligned members (E0588 otherwise).
        .opaque_type("rte_arp_ipv4")
        .opaque_type("rte_arp_hdr")
        .opaque_type("rte_l2tpv2_combined_msg_hdr")
        .opaque_type("rte_gtp_psc_.*")
        .blocklist_type("max_align_t")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .generate()
        .unwrap_or_else(|e| fail(&format!("bindgen could not read the DPDK headers: {e}")));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings: {e}")));
}
