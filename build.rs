//! Build information for rvsd: the git commit and the DPDK version that
//! dpdk-sys found (dpdk-sys fails the build with a one-line apt hint when
//! DPDK, pkg-config or libclang is missing, so nothing links half-way).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=.git/HEAD");
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RVS_GIT_COMMIT={commit}");
    let profile = std::env::var("PROFILE").unwrap_or_default();
    println!("cargo:rustc-env=RVS_BUILD_PROFILE={profile}");
}
