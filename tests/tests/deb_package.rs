//! The Debian package on this machine (privileged): built as `cargo xtask dist --debug` builds it
//! (`anchor_dist::build_deb` with `target/debug/anchor`, and the man pages and completions of
//! `anchor_user::manual`), installed with `dpkg -i`, used, and purged without a trace.
//!
//! - the package holds exactly the files of `anchor_dist::contents::entries`, with the
//!   workspace's version and this machine's architecture;
//! - installed: `anchor --version`, `anchor check-config` on every sample configuration, every
//!   man page gzipped and equal to the rendered one, the completions (bash loads its own and
//!   completes a subcommand with it), and `systemd-analyze verify` on both units;
//! - `dpkg --purge anchor` leaves no file of the package and no directory it created.
//!
//! A guard purges the package when the test fails half-way. The test refuses to run when a
//! package named anchor is already installed, which it must not remove. Needs root, dpkg,
//! dpkg-deb, gzip, bash and systemd-analyze (`cargo xtask setup` installs them).

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use anchor_dist::{
    Compression, Inputs, VERSION, build_deb, contents::entries, control::glibc_needed,
};
use anchor_rig::WorkDir;
use anchor_tests::support::{anchor_binary, require_tools};

const UNITS: [&str; 3] = [
    "/usr/lib/systemd/system/anchor.service",
    "/usr/lib/systemd/system/anchor-cmd.service",
    "/usr/lib/systemd/system/anchor-client.service",
];

#[test]
fn the_package_installs_works_and_purges_clean() {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "this test installs a package: run it as root"
    );
    require_tools(&[
        &["dpkg", "--version"],
        &["dpkg-deb", "--version"],
        &["gzip", "--version"],
        &["bash", "--version"],
        &["systemd-analyze", "--version"],
    ]);
    let status = package_status();
    assert!(
        status.is_none(),
        "a package named anchor is on this machine ({}): this test installs and purges its own, \
         remove it first",
        status.unwrap_or_default()
    );

    let work = WorkDir::create("anchor-deb").unwrap_or_else(|e| panic!("{e:#}"));
    let docs = work.path().join("docs");
    let pages = anchor_user::manual::write_man_pages(&docs.join("man")).expect("man pages");
    let scripts =
        anchor_user::manual::write_completions(&docs.join("completions")).expect("completions");
    let inputs = Inputs {
        workspace: Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("the tests crate is in the workspace")
            .to_owned(),
        binary: anchor_binary(),
        docs,
    };
    let deb = build_deb(&inputs, work.path(), Compression::Fast).expect("build the package");

    let (files, dirs) = check_package(&deb, &inputs);
    let dirs_before: BTreeSet<&PathBuf> = dirs.iter().filter(|dir| dir.exists()).collect();

    let mut installed = Installed { purged: false };
    let out = run(Command::new("dpkg").arg("-i").arg(&deb));
    assert!(out.status.success(), "dpkg -i failed: {}", text(&out));
    assert_eq!(
        package_status().as_deref(),
        Some("install ok installed"),
        "dpkg's status of the package"
    );

    check_installed(&files, &pages, &scripts);

    // Purged: no file of the package, no directory it created.
    installed.purge();
    assert_eq!(package_status(), None, "dpkg's status after the purge");
    let left: Vec<&PathBuf> = files
        .iter()
        .filter(|file| file.symlink_metadata().is_ok())
        .collect();
    assert!(left.is_empty(), "files left after the purge: {left:?}");
    let dirs_left: Vec<&PathBuf> = dirs
        .iter()
        .filter(|dir| dir.exists() && !dirs_before.contains(dir))
        .collect();
    assert!(
        dirs_left.is_empty(),
        "directories created by the package left after the purge: {dirs_left:?}"
    );
}

/// The package's fields, and exactly the files it is meant to hold; its regular files and its
/// directories, as absolute paths.
fn check_package(deb: &Path, inputs: &Inputs) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let architecture = stdout(Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(
        field(deb, "Package"),
        "anchor",
        "the package's name in {}",
        deb.display()
    );
    assert_eq!(field(deb, "Version"), VERSION);
    assert_eq!(field(deb, "Architecture"), architecture.trim());
    let binary = fs::read(&inputs.binary).expect("read the binary");
    let (major, minor) = glibc_needed(&binary).expect("the binary needs glibc symbol versions");
    assert_eq!(
        field(deb, "Depends"),
        format!("libc6 (>= {major}.{minor}), libgcc-s1")
    );
    let (files, dirs) = package_listing(deb);
    let expected: BTreeSet<PathBuf> = entries(inputs)
        .expect("entries")
        .into_iter()
        .map(|entry| Path::new("/").join(entry.dest))
        .collect();
    assert_eq!(files, expected);
    (files, dirs)
}

/// The installed package at work: the binary, the samples, the man pages and completions (`pages`
/// and `scripts` as rendered), the units.
fn check_installed(files: &BTreeSet<PathBuf>, pages: &[PathBuf], scripts: &[PathBuf]) {
    // The binary.
    assert_eq!(
        stdout(Command::new("/usr/sbin/anchor").arg("--version")),
        format!("anchor {VERSION}\n")
    );
    let samples: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.starts_with("/usr/share/doc/anchor/config"))
        .collect();
    assert_eq!(samples.len(), 4, "{samples:?}");
    for sample in samples {
        assert_eq!(
            stdout(
                Command::new("/usr/sbin/anchor")
                    .arg("check-config")
                    .arg(sample)
            ),
            "ok\n",
            "check-config {}",
            sample.display()
        );
    }

    // The man pages: gzip files whose content is the page rendered from the command line.
    assert_eq!(
        pages.len(),
        17,
        "one page per command, as manual.rs lists them"
    );
    for page in pages {
        let name = page.file_name().expect("name").to_string_lossy();
        let installed_page = PathBuf::from(format!("/usr/share/man/man8/{name}.gz"));
        let bytes = fs::read(&installed_page)
            .unwrap_or_else(|e| panic!("{}: {e}", installed_page.display()));
        assert_eq!(
            bytes[..2],
            [0x1f, 0x8b],
            "{} is not gzip",
            installed_page.display()
        );
        let unpacked = run(Command::new("gzip").arg("-dc").arg(&installed_page));
        assert!(unpacked.status.success(), "{}", text(&unpacked));
        assert_eq!(
            unpacked.stdout,
            fs::read(page).expect("rendered page"),
            "{}",
            installed_page.display()
        );
    }
    // The completions, as rendered.
    for (script, installed_at) in scripts.iter().zip([
        "/usr/share/bash-completion/completions/anchor",
        "/usr/share/zsh/vendor-completions/_anchor",
        "/usr/share/fish/vendor_completions.d/anchor.fish",
    ]) {
        assert_eq!(
            fs::read(installed_at).unwrap_or_else(|e| panic!("{installed_at}: {e}")),
            fs::read(script).expect("rendered completion"),
            "{installed_at}"
        );
    }

    // bash loads its completion and completes the subcommands.
    assert_eq!(
        stdout(Command::new("bash").args([
            "-c",
            ". /usr/share/bash-completion/completions/anchor && complete -p anchor \
             && COMP_WORDS=(anchor bin) COMP_CWORD=1 && _anchor anchor bin anchor \
             && echo \"${COMPREPLY[@]}\"",
        ])),
        "complete -o bashdefault -o default -o nosort -F _anchor anchor\nbinding\n"
    );

    // The units, as systemd reads them (with the installed binary).
    for unit in UNITS {
        // It warns about unknown keys and exits 0: a clean unit is one without any output.
        let out = run(Command::new("systemd-analyze").arg("verify").arg(unit));
        assert!(
            out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
            "systemd-analyze verify {unit}: {}",
            text(&out)
        );
    }
}

/// Purges the package when dropped, unless [`Installed::purge`] did.
struct Installed {
    purged: bool,
}

impl Installed {
    fn purge(&mut self) {
        let out = run(Command::new("dpkg").args(["--purge", "anchor"]));
        assert!(
            out.status.success(),
            "dpkg --purge anchor failed: {}",
            text(&out)
        );
        self.purged = true;
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !self.purged {
            let out = run(Command::new("dpkg").args(["--purge", "anchor"]));
            if !out.status.success() {
                eprintln!("cleanup: dpkg --purge anchor failed: {}", text(&out));
            }
        }
    }
}

/// dpkg's status of the package named anchor (`install ok installed`), or `None` when dpkg
/// knows of none (never installed, or purged).
fn package_status() -> Option<String> {
    let out = run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "anchor"]));
    let status = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    // dpkg-query exits 1 for a package it does not know.
    (out.status.success() && !status.ends_with(" not-installed")).then_some(status)
}

/// The regular files and the directories of the package, as absolute paths (`dpkg-deb -c`).
fn package_listing(deb: &Path) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let listing = stdout(Command::new("dpkg-deb").arg("-c").arg(deb));
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for line in listing.lines() {
        // drwxr-xr-x root/root         0 2026-12-04 18:03 ./usr/share/
        let mut fields = line.split_whitespace();
        let mode = fields.next().expect("mode");
        let path = fields.nth(4).expect("path");
        let path = Path::new("/").join(path.trim_start_matches("./").trim_end_matches('/'));
        match mode.as_bytes()[0] {
            b'd' => {
                dirs.insert(path);
            }
            b'-' => {
                files.insert(path);
            }
            other => panic!("unexpected entry type {} in: {line}", char::from(other)),
        }
    }
    dirs.remove(Path::new("/"));
    (files, dirs)
}

/// `dpkg-deb -f DEB FIELD`.
fn field(deb: &Path, name: &str) -> String {
    stdout(Command::new("dpkg-deb").arg("-f").arg(deb).arg(name))
        .trim()
        .to_owned()
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// The command's standard output; it must succeed.
fn stdout(command: &mut Command) -> String {
    let out = run(command);
    assert!(out.status.success(), "{command:?} failed: {}", text(&out));
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
