use which::which;

/// Programs built with misaligned loads and stores allowed, as the anchor program is (see
/// `anchor-ebpf/build.rs`), so that the references compare like with like.
const MISALIGNED_OK: &[&str] = &[
    "ref_pass",
    "ref_encap",
    "ref_lookup",
    "ref_redirect",
    "ref_fib",
    "bench_gen",
    "bench_sink",
];

/// Rebuild when bpf-linker changes, since it is what links the objects.
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
    for bin in MISALIGNED_OK {
        println!("cargo:rustc-link-arg-bin={bin}=--cpu-features=+allows-misaligned-mem-access");
    }
}
