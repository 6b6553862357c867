use which::which;

/// Programs built with misaligned loads and stores allowed, as the anchor program is (see
/// `anchor-ebpf/build.rs`): an address is read from the packet with two word loads. The verifier
/// refuses misaligned stack accesses, so every stack object is 8-byte aligned.
const MISALIGNED_OK: &[&str] = &["client_node"];

/// Rebuild when bpf-linker changes, since it is what links the object.
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
    for bin in MISALIGNED_OK {
        println!("cargo:rustc-link-arg-bin={bin}=--cpu-features=+allows-misaligned-mem-access");
    }
}
