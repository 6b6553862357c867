use which::which;

/// Programs built with misaligned loads and stores allowed (see below).
const MISALIGNED_OK: &[&str] = &["anchor"];

/// Rebuild when bpf-linker changes, since it is what links the object.
///
/// The BPF backend may emit misaligned loads and stores: packet fields are then read with one
/// word-sized load instead of one load per byte. The verifier accepts misaligned packet and map
/// value accesses where the CPU handles them (x86-64 does), never misaligned stack accesses, so
/// the programs keep every stack object 8-byte aligned.
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
    for bin in MISALIGNED_OK {
        println!("cargo:rustc-link-arg-bin={bin}=--cpu-features=+allows-misaligned-mem-access");
    }
}
