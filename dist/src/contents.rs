//! What the package holds: each file's source and its place in the installed tree.

use std::path::{Path, PathBuf};

use crate::{DistError, PACKAGE};

/// What the package is built from.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The workspace root (for `packaging/`).
    pub workspace: PathBuf,
    /// The `anchor` binary to ship (release for `cargo xtask dist`).
    pub binary: PathBuf,
    /// What `anchor-docs DIR` wrote: `DIR/man/*.8` and `DIR/completions/`.
    pub docs: PathBuf,
}

/// Where a file's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file, copied as it is.
    File(PathBuf),
    /// A file, compressed with `gzip -9n` (man pages).
    Gzip(PathBuf),
    /// Text written by this crate.
    Text(String),
}

/// One file of the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub source: Source,
    /// Its path in the installed tree, relative to `/` (`usr/sbin/anchor`).
    pub dest: PathBuf,
    pub mode: u32,
}

/// The sample directories of `packaging/` shipped under `/usr/share/doc/anchor/`, each required.
pub const SAMPLE_DIRS: [&str; 5] = ["config", "cmd", "client", "strongswan", "bird"];
/// The Prometheus alert rules, shipped under `/usr/share/doc/anchor/prometheus/` when present.
pub const ALERT_RULES: &str = "prometheus/anchor-rules.yml";
/// The systemd units of `packaging/`, installed in `/usr/lib/systemd/system/`.
pub const UNITS: [&str; 3] = [
    "anchor.service",
    "anchor-cmd.service",
    "anchor-client.service",
];
/// The completions `anchor-docs` writes, and where each shell looks for them.
pub const COMPLETIONS: [(&str, &str); 3] = [
    ("anchor", "usr/share/bash-completion/completions/anchor"),
    ("_anchor", "usr/share/zsh/vendor-completions/_anchor"),
    (
        "anchor.fish",
        "usr/share/fish/vendor_completions.d/anchor.fish",
    ),
];

/// Every file of the package, in a stable order.
pub fn entries(inputs: &Inputs) -> Result<Vec<Entry>, DistError> {
    let packaging = inputs.workspace.join("packaging");
    let doc = PathBuf::from("usr/share/doc").join(PACKAGE);
    let mut entries = vec![Entry {
        source: Source::File(require(&inputs.binary, "the anchor binary")?),
        dest: "usr/sbin/anchor".into(),
        mode: 0o755,
    }];
    for unit in UNITS {
        entries.push(Entry {
            source: Source::File(require(&packaging.join(unit), "a systemd unit")?),
            dest: Path::new("usr/lib/systemd/system").join(unit),
            mode: 0o644,
        });
    }
    for dir in SAMPLE_DIRS {
        for file in files_in(&require(&packaging.join(dir), "a sample directory")?)? {
            let name = file
                .file_name()
                .expect("a listed file has a name")
                .to_owned();
            entries.push(Entry {
                source: Source::File(file),
                dest: doc.join(dir).join(name),
                mode: 0o644,
            });
        }
    }
    let rules = packaging.join(ALERT_RULES);
    if rules.is_file() {
        entries.push(Entry {
            source: Source::File(rules),
            dest: doc.join(ALERT_RULES),
            mode: 0o644,
        });
    }
    entries.push(Entry {
        source: Source::Text(copyright()),
        dest: doc.join("copyright"),
        mode: 0o644,
    });
    let man = inputs.docs.join("man");
    require(
        &man.join("anchor.8"),
        "the man page anchor.8 (anchor-docs writes it)",
    )?;
    for page in files_in(&man)? {
        let name = page.file_name().expect("a listed file has a name");
        let mut gz = name.to_owned();
        gz.push(".gz");
        entries.push(Entry {
            source: Source::Gzip(page.clone()),
            dest: Path::new("usr/share/man/man8").join(gz),
            mode: 0o644,
        });
    }
    for (name, dest) in COMPLETIONS {
        let script = inputs.docs.join("completions").join(name);
        entries.push(Entry {
            source: Source::File(require(
                &script,
                "a shell completion (anchor-docs writes it)",
            )?),
            dest: dest.into(),
            mode: 0o644,
        });
    }
    Ok(entries)
}

fn require(path: &Path, what: &'static str) -> Result<PathBuf, DistError> {
    if path.exists() {
        Ok(path.to_owned())
    } else {
        Err(DistError::Missing {
            path: path.to_owned(),
            what,
        })
    }
}

/// The regular files directly in `dir`, sorted.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>, DistError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(DistError::io(dir))? {
        let path = entry.map_err(DistError::io(dir))?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `/usr/share/doc/anchor/copyright`, in the machine-readable format.
fn copyright() -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: {PACKAGE}\n\
         \n\
         Files: *\n\
         Copyright: the anchor authors\n\
         License: {}\n",
        env!("CARGO_PKG_LICENSE")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_its_place() {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_owned();
        let docs = std::env::temp_dir().join(format!("anchor-dist-docs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&docs);
        std::fs::create_dir_all(docs.join("man")).unwrap();
        std::fs::create_dir_all(docs.join("completions")).unwrap();
        for page in ["anchor.8", "anchor-run.8"] {
            std::fs::write(docs.join("man").join(page), ".TH\n").unwrap();
        }
        for (name, _) in COMPLETIONS {
            std::fs::write(docs.join("completions").join(name), "#\n").unwrap();
        }
        // Any existing file stands for the binary here.
        let binary = workspace.join("Cargo.toml");
        let inputs = Inputs {
            workspace: workspace.clone(),
            binary: binary.clone(),
            docs: docs.clone(),
        };
        let entries = entries(&inputs).expect("entries");
        let dests: Vec<_> = entries.iter().map(|e| e.dest.to_str().unwrap()).collect();
        let mut expected = vec![
            "usr/sbin/anchor",
            "usr/lib/systemd/system/anchor.service",
            "usr/lib/systemd/system/anchor-cmd.service",
            "usr/lib/systemd/system/anchor-client.service",
            "usr/share/doc/anchor/config/anchor-access.toml",
            "usr/share/doc/anchor/config/anchor-core.toml",
            "usr/share/doc/anchor/config/anchor-maar.toml",
            "usr/share/doc/anchor/config/anchor.toml",
            "usr/share/doc/anchor/cmd/cmd-etcd.toml",
            "usr/share/doc/anchor/cmd/cmd.toml",
            "usr/share/doc/anchor/cmd/etcd.conf.yml",
            "usr/share/doc/anchor/client/client.toml",
            "usr/share/doc/anchor/strongswan/cmd-swanctl.conf",
            "usr/share/doc/anchor/strongswan/maar-swanctl.conf",
            "usr/share/doc/anchor/bird/bird-core.conf",
            "usr/share/doc/anchor/bird/bird.conf",
        ];
        if workspace.join("packaging").join(ALERT_RULES).is_file() {
            expected.push("usr/share/doc/anchor/prometheus/anchor-rules.yml");
        }
        expected.extend([
            "usr/share/doc/anchor/copyright",
            "usr/share/man/man8/anchor-run.8.gz",
            "usr/share/man/man8/anchor.8.gz",
            "usr/share/bash-completion/completions/anchor",
            "usr/share/zsh/vendor-completions/_anchor",
            "usr/share/fish/vendor_completions.d/anchor.fish",
        ]);
        assert_eq!(dests, expected);
        assert_eq!(entries[0].source, Source::File(binary));
        assert_eq!(entries[0].mode, 0o755);
        assert!(entries[1..].iter().all(|e| e.mode == 0o644));
        assert_eq!(
            entries[entries.len() - 4].source,
            Source::Gzip(docs.join("man/anchor.8"))
        );
        std::fs::remove_file(docs.join("man/anchor.8")).unwrap();
        let err = super::entries(&inputs).expect_err("no anchor.8");
        assert!(
            matches!(&err, DistError::Missing { path, .. } if *path == docs.join("man/anchor.8")),
            "{err}"
        );
        std::fs::remove_dir_all(&docs).unwrap();
    }
}
