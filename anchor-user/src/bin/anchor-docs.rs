//! `anchor-docs DIR`: writes the man pages (`DIR/man/*.8`) and the shell completions
//! (`DIR/completions/`) rendered from the command line's clap definitions.

use std::path::PathBuf;

use anchor_user::manual::{write_completions, write_man_pages};
use anyhow::Context as _;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        anyhow::bail!("usage: anchor-docs DIR");
    };
    let dir = PathBuf::from(dir);
    let pages = write_man_pages(&dir.join("man")).context("man pages")?;
    let scripts = write_completions(&dir.join("completions")).context("completions")?;
    for path in pages.iter().chain(&scripts) {
        println!("{}", path.display());
    }
    Ok(())
}
