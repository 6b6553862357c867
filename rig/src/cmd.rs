//! Running external commands: every command gets the tool cache on PATH and errors that name the
//! command line.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, Output};

use anyhow::{Context as _, Result, bail};

/// `$HOME/.cache/anchor-tools`: where setup installs bpf-linker.
pub fn tool_cache() -> Result<PathBuf> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/anchor-tools"))
}

/// PATH with the tool cache's `bin` and rustup's `$HOME/.cargo/bin` in front.
fn tool_path() -> Result<OsString> {
    let mut dirs = vec![tool_cache()?.join("bin")];
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).context("PATH contains a directory that cannot be joined")
}

/// A command with PATH set up for the project's tools.
pub fn new(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    if let Ok(path) = tool_path() {
        cmd.env("PATH", path);
    }
    cmd
}

/// `ip netns exec NS PROGRAM`.
pub fn in_netns(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = new("ip");
    cmd.args(["netns", "exec", ns]).arg(program);
    cmd
}

/// `nsenter --net=/run/netns/NS PROGRAM`: only the network namespace, unlike `ip netns exec`,
/// which also gives the program a mount namespace of its own with a fresh /sys (and so no
/// bpffs at /sys/fs/bpf).
pub fn in_netns_only(ns: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = new("nsenter");
    cmd.arg(format!("--net=/run/netns/{ns}"))
        .arg("--")
        .arg(program);
    cmd
}

/// The command line, for messages.
pub fn describe(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Shorthand for running commands with good errors.
pub trait Run {
    /// Runs with inherited stdio; fails when the exit status is not zero.
    fn run(&mut self) -> Result<()>;
    /// Runs with captured output; fails (showing the output) when the exit status is not zero.
    fn run_quiet(&mut self) -> Result<Output>;
    /// Runs with captured output and returns stdout; fails when the exit status is not zero.
    fn read_stdout(&mut self) -> Result<String>;
}

impl Run for Command {
    fn run(&mut self) -> Result<()> {
        let line = describe(self);
        let status = self
            .status()
            .with_context(|| format!("cannot start `{line}`"))?;
        if !status.success() {
            bail!("`{line}` failed ({status})");
        }
        Ok(())
    }

    fn run_quiet(&mut self) -> Result<Output> {
        let line = describe(self);
        let output = self
            .output()
            .with_context(|| format!("cannot start `{line}`"))?;
        if !output.status.success() {
            bail!(
                "`{line}` failed ({}):\n{}{}",
                output.status,
                tail(&output.stdout),
                tail(&output.stderr)
            );
        }
        Ok(output)
    }

    fn read_stdout(&mut self) -> Result<String> {
        let output = self.run_quiet()?;
        String::from_utf8(output.stdout)
            .with_context(|| format!("`{}` printed non-UTF-8", describe(self)))
    }
}

/// The last lines of some output, enough to see why a command failed.
pub fn tail(bytes: &[u8]) -> String {
    const LINES: usize = 40;
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(LINES);
    let mut out = lines[start..].join("\n");
    if !out.is_empty() {
        out.push('\n');
    }
    out
}
