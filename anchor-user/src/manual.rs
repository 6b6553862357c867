//! Man pages and shell completions, rendered from the clap definitions of [`crate::cli`], so
//! that they cannot drift from the command line. `anchor-docs DIR` (a bin of this crate) writes
//! them; `cargo xtask dist` packages them.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::Cli;

/// The manual section of every page: system administration commands and daemons.
pub const MAN_SECTION: &str = "8";

/// The shells completions are written for, with each one's file name (the name each shell's
/// package looks up: bash-completion `completions/anchor`, zsh `_anchor`, fish `anchor.fish`).
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "anchor"),
    (Shell::Zsh, "_anchor"),
    (Shell::Fish, "anchor.fish"),
];

#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// The command line as clap knows it, built (every subcommand has its display name,
/// `anchor-binding-add`, and its generated `--help`).
pub fn command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// Writes `anchor.8` and one page per subcommand at every level (`anchor-binding.8`,
/// `anchor-binding-add.8`, ...) into `dir` (created), and returns their paths, the top page
/// first.
pub fn write_man_pages(dir: &Path) -> Result<Vec<PathBuf>, ManualError> {
    create_dir(dir)?;
    let mut written = Vec::new();
    write_page(&command(), dir, &mut written)?;
    Ok(written)
}

fn write_page(
    command: &clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), ManualError> {
    let man = clap_mangen::Man::new(command.clone())
        .section(MAN_SECTION)
        .source(format!("anchor {}", env!("CARGO_PKG_VERSION")))
        .manual("System Administration");
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page).map_err(|source| ManualError::Write {
        path: path.clone(),
        source,
    })?;
    write(&path, &page)?;
    written.push(path);
    for sub in command.get_subcommands().filter(|sub| !sub.is_hide_set()) {
        write_page(sub, dir, written)?;
    }
    Ok(())
}

/// Writes the bash, zsh and fish completions into `dir` (created) under the names of
/// [`COMPLETIONS`], and returns their paths in that order.
pub fn write_completions(dir: &Path) -> Result<Vec<PathBuf>, ManualError> {
    create_dir(dir)?;
    let mut written = Vec::new();
    for (shell, name) in COMPLETIONS {
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command(), "anchor", &mut script);
        let path = dir.join(name);
        write(&path, &script)?;
        written.push(path);
    }
    Ok(written)
}

fn create_dir(dir: &Path) -> Result<(), ManualError> {
    fs::create_dir_all(dir).map_err(|source| ManualError::Write {
        path: dir.to_owned(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ManualError> {
    fs::write(path, bytes).map_err(|source| ManualError::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("anchor-manual-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn names(paths: &[PathBuf]) -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn one_page_per_command() {
        let dir = scratch("man");
        let pages = write_man_pages(&dir).expect("pages");
        assert_eq!(
            names(&pages),
            [
                "anchor.8",
                "anchor-run.8",
                "anchor-cmd.8",
                "anchor-cmd-status.8",
                "anchor-mn.8",
                "anchor-mn-attach.8",
                "anchor-mn-detach.8",
                "anchor-mn-list.8",
                "anchor-client.8",
                "anchor-binding.8",
                "anchor-binding-add.8",
                "anchor-binding-del.8",
                "anchor-binding-list.8",
                "anchor-stats.8",
                "anchor-check-config.8",
                "anchor-debug.8",
                "anchor-debug-packets.8",
            ]
        );
        let add = fs::read_to_string(dir.join("anchor-binding-add.8")).expect("read");
        assert!(add.starts_with(".ie \\n(.g .ds Aq"), "{add}");
        let version = env!("CARGO_PKG_VERSION");
        assert!(
            add.contains(&format!(
                ".TH anchor-binding-add 8  \"anchor {version}\" \"System Administration\""
            )),
            "{add}"
        );
        // Every option of `binding add`, and the help of one of them, word for word.
        for option in [
            "serving",
            "home",
            "reverse\\-tunnel",
            "dev",
            "mac",
            "socket",
        ] {
            assert!(add.contains(&format!("\\-\\-{option}")), "{option}: {add}");
        }
        assert!(add.contains("\n.TP\n\\fB\\-\\-dev\\fR \\fI<IFACE>\\fR\nVisiting: route the prefix to this access interface\n"), "{add}");
        let top = fs::read_to_string(dir.join("anchor.8")).expect("read");
        assert!(
            top.contains("\n.TP\nanchor\\-binding(8)\nAdd, remove or list bindings\n"),
            "{top}"
        );
        fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn completions_for_three_shells() {
        let dir = scratch("completions");
        let scripts = write_completions(&dir).expect("completions");
        assert_eq!(names(&scripts), ["anchor", "_anchor", "anchor.fish"]);
        let bash = fs::read_to_string(&scripts[0]).expect("read");
        assert!(bash.contains("complete -F _anchor"), "{bash}");
        assert!(bash.contains("--reverse-tunnel"));
        let zsh = fs::read_to_string(&scripts[1]).expect("read");
        assert!(zsh.starts_with("#compdef anchor"), "{zsh}");
        let fish = fs::read_to_string(&scripts[2]).expect("read");
        assert!(fish.contains("complete -c anchor"), "{fish}");
        assert!(fish.contains("-l check-config") || fish.contains("\"check-config\""));
        fs::remove_dir_all(&dir).expect("clean");
    }
}
