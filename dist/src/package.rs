//! Staging the package's tree and building the `.deb` with `dpkg-deb`.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use crate::{
    DistError, PACKAGE, VERSION,
    contents::{Entry, Inputs, Source, entries},
    control::{control, glibc_needed},
};

/// How `dpkg-deb` compresses the package's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// xz, dpkg-deb's default: the smallest package, for distribution (28 s for a 139 MB debug
    /// binary here).
    Xz,
    /// gzip -1: larger, for debug builds and the package test (2 s for the same binary).
    Fast,
}

impl Compression {
    fn args(self) -> &'static [&'static str] {
        match self {
            Self::Xz => &["-Zxz"],
            Self::Fast => &["-Zgzip", "-z1"],
        }
    }
}

/// Builds `OUT_DIR/anchor_VERSION_ARCH.deb` (the tree staged beside it, in
/// `OUT_DIR/anchor_VERSION_ARCH/`, replaced) and returns its path.
pub fn build_deb(
    inputs: &Inputs,
    out_dir: &Path,
    compression: Compression,
) -> Result<PathBuf, DistError> {
    let architecture = architecture()?;
    let name = format!("{PACKAGE}_{VERSION}_{architecture}");
    let stage = out_dir.join(&name);
    if stage.exists() {
        fs::remove_dir_all(&stage).map_err(DistError::io(&stage))?;
    }
    let mut size_kib = 0;
    for entry in entries(inputs)? {
        size_kib += install(&entry, &stage)?.div_ceil(1024);
    }
    let binary = fs::read(&inputs.binary).map_err(DistError::io(&inputs.binary))?;
    let debian = stage.join("DEBIAN");
    create_dirs(&debian)?;
    write_file(
        &debian.join("control"),
        control(&architecture, size_kib, glibc_needed(&binary)).as_bytes(),
        0o644,
    )?;
    let deb = out_dir.join(format!("{name}.deb"));
    let mut dpkg_deb = Command::new("dpkg-deb");
    dpkg_deb
        .arg("--root-owner-group")
        .args(compression.args())
        .arg("--build")
        .arg(&stage)
        .arg(&deb);
    run(&mut dpkg_deb)?;
    Ok(deb)
}

/// `dpkg --print-architecture`.
pub fn architecture() -> Result<String, DistError> {
    let mut dpkg = Command::new("dpkg");
    dpkg.arg("--print-architecture");
    let stdout = run(&mut dpkg)?;
    let arch = stdout.trim();
    if arch.is_empty() {
        return Err(DistError::NoArchitecture {
            command: describe(&dpkg),
        });
    }
    Ok(arch.to_owned())
}

/// Puts one file in the staged tree; its size in bytes.
fn install(entry: &Entry, stage: &Path) -> Result<u64, DistError> {
    let dest = stage.join(&entry.dest);
    create_dirs(dest.parent().expect("a package file is in a directory"))?;
    let bytes = match &entry.source {
        Source::File(path) => fs::read(path).map_err(DistError::io(path))?,
        Source::Text(text) => text.clone().into_bytes(),
        Source::Gzip(path) => {
            let mut gzip = Command::new("gzip");
            gzip.args(["-9", "-n", "-c"]).arg(path);
            run_bytes(&mut gzip)?
        }
    };
    write_file(&dest, &bytes, entry.mode)?;
    Ok(bytes.len() as u64)
}

/// `dir` and its missing parents, each 0755 whatever the umask.
fn create_dirs(dir: &Path) -> Result<(), DistError> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dirs(parent)?;
    }
    fs::create_dir(dir).map_err(DistError::io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(DistError::io(dir))
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), DistError> {
    fs::write(path, bytes).map_err(DistError::io(path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(DistError::io(path))
}

fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|arg| arg.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command`; its standard output, or an error with its standard error.
fn run_bytes(command: &mut Command) -> Result<Vec<u8>, DistError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| DistError::Spawn {
            command: describe(command),
            source,
        })?;
    if !output.status.success() {
        return Err(DistError::Failed {
            command: describe(command),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    Ok(output.stdout)
}

fn run(command: &mut Command) -> Result<String, DistError> {
    run_bytes(command).map(|stdout| String::from_utf8_lossy(&stdout).into_owned())
}
