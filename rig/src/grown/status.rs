//! What of a rig is present: its namespaces, and the processes in each (`cargo xtask rig
//! status`), for the fixed rig and for a grown one alike.

use anyhow::Result;

/// One namespace of a rig.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsStatus {
    pub ns: String,
    /// `None`: the namespace does not exist.
    pub processes: Option<Vec<Process>>,
}

/// A process in a namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    /// Its command line, arguments joined by spaces.
    pub command: String,
}

impl Process {
    /// Whether it is an anchor daemon (`anchor run`, `anchor cmd`).
    pub fn is_daemon(&self) -> bool {
        let mut words = self.command.split_whitespace();
        let program = words.next().unwrap_or_default();
        program.rsplit('/').next() == Some("anchor") && matches!(words.next(), Some("run" | "cmd"))
    }
}

/// The status of each of `namespaces`, in their order.
pub fn status(namespaces: &[String]) -> Result<Vec<NsStatus>> {
    let present = crate::topology::netns_list()?;
    namespaces
        .iter()
        .map(|ns| {
            let processes = if present.contains(ns) {
                let pids = super::build::pids(std::slice::from_ref(ns))?;
                Some(
                    pids.into_iter()
                        .filter_map(|pid| {
                            let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                            let command = raw
                                .split(|b| *b == 0)
                                .filter(|arg| !arg.is_empty())
                                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                                .collect::<Vec<_>>()
                                .join(" ");
                            Some(Process { pid, command })
                        })
                        .collect(),
                )
            } else {
                None
            };
            Ok(NsStatus {
                ns: ns.clone(),
                processes,
            })
        })
        .collect()
}

/// The lines `cargo xtask rig status` prints: one per namespace, one per process, and a total.
pub fn report(statuses: &[NsStatus]) -> String {
    let mut lines = Vec::new();
    let (mut present, mut daemons) = (0, 0);
    for status in statuses {
        match &status.processes {
            None => lines.push(format!("rig: {}: absent", status.ns)),
            Some(processes) => {
                present += 1;
                lines.push(format!(
                    "rig: {}: present, {}",
                    status.ns,
                    match processes.len() {
                        0 => "no process".to_owned(),
                        1 => "1 process".to_owned(),
                        n => format!("{n} processes"),
                    }
                ));
                for process in processes {
                    daemons += usize::from(process.is_daemon());
                    lines.push(format!("rig:   {:>7} {}", process.pid, process.command));
                }
            }
        }
    }
    lines.push(format!(
        "rig: {present} of {} namespaces present, {daemons} anchor daemon{} running",
        statuses.len(),
        if daemons == 1 { "" } else { "s" }
    ));
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_counts_namespaces_and_daemons() {
        let statuses = [
            NsStatus {
                ns: "ant-core".into(),
                processes: Some(vec![Process {
                    pid: 42,
                    command: "/x/target/debug/anchor cmd --config /tmp/cmd.toml".into(),
                }]),
            },
            NsStatus {
                ns: "ant-ar1".into(),
                processes: Some(vec![
                    Process {
                        pid: 43,
                        command: "anchor run --config ar1.toml".into(),
                    },
                    Process {
                        pid: 44,
                        command: "anchor binding list".into(),
                    },
                ]),
            },
            NsStatus {
                ns: "ant-mn1".into(),
                processes: None,
            },
        ];
        let text = report(&statuses);
        assert!(text.contains("rig: ant-core: present, 1 process"), "{text}");
        assert!(
            text.contains("rig: ant-ar1: present, 2 processes"),
            "{text}"
        );
        assert!(text.contains("rig: ant-mn1: absent"), "{text}");
        assert!(
            text.ends_with("rig: 2 of 3 namespaces present, 2 anchor daemons running"),
            "{text}"
        );
    }
}
