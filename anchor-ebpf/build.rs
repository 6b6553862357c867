use which::which;

/// Rebuild when bpf-linker changes, since it is what links the object.
fn main() {
    if let Ok(linker) = which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", linker.display());
    }
}
