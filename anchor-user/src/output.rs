//! Text tables for the client commands.

use std::fmt::Write as _;

use crate::{
    api::{BindingInfo, MnListReport, StatsReport},
    cmd_status::CmdStatus,
};

/// Left-aligns the first column, right-aligns columns whose header is in `numeric`.
fn table(headers: &[&str], rows: &[Vec<String>], numeric: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            if numeric.contains(&i) {
                let _ = write!(line, "{cell:>width$}");
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub fn bindings_table(bindings: &[BindingInfo]) -> String {
    let rows: Vec<Vec<String>> = bindings
        .iter()
        .map(|b| {
            vec![
                b.prefix.to_string(),
                b.kind.as_str().to_owned(),
                b.peer.to_string(),
                if b.reverse_tunnel { "yes" } else { "no" }.to_owned(),
                b.dev.clone().unwrap_or_else(|| "-".to_owned()),
                b.mac.clone().unwrap_or_else(|| "-".to_owned()),
                b.slot.to_string(),
            ]
        })
        .collect();
    table(
        &[
            "PREFIX",
            "KIND",
            "PEER",
            "REVERSE_TUNNEL",
            "DEV",
            "MAC",
            "SLOT",
        ],
        &rows,
        &[6],
    )
}

/// `anchor mn list`: the served nodes, then the anchored prefixes.
pub fn mn_tables(list: &MnListReport) -> String {
    let policy = |p: anchor_maar::Policy| match p {
        anchor_maar::Policy::Nonpersistent => "nonpersistent",
        anchor_maar::Policy::SessionLasting => "session-lasting",
        anchor_maar::Policy::Fixed => "fixed",
    };
    let joined = |prefixes: &[ipnet::Ipv6Net]| {
        if prefixes.is_empty() {
            "-".to_owned()
        } else {
            prefixes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let served: Vec<Vec<String>> = list
        .served
        .iter()
        .map(|s| {
            vec![
                s.mn_id.clone(),
                s.dev.clone(),
                s.prefix.to_string(),
                policy(s.policy).to_owned(),
                format!("{:?}", s.phase).to_lowercase(),
                joined(&s.visiting),
            ]
        })
        .collect();
    let anchored: Vec<Vec<String>> = list
        .anchored
        .iter()
        .map(|a| {
            let idle = match (a.release_pending, a.idle_s, a.idle_release_s) {
                (true, _, _) => "release pending".to_owned(),
                (false, Some(idle), Some(release)) => format!("{idle}s of {release}s"),
                _ => "-".to_owned(),
            };
            vec![
                a.prefix.to_string(),
                a.mn_id.clone(),
                a.serving.to_string(),
                policy(a.policy).to_owned(),
                idle,
            ]
        })
        .collect();
    let mut out = table(
        &["MN_ID", "DEV", "PREFIX", "POLICY", "PHASE", "VISITING"],
        &served,
        &[],
    );
    out.push('\n');
    out.push_str(&table(
        &["ANCHORED", "MN_ID", "SERVING", "POLICY", "IDLE"],
        &anchored,
        &[],
    ));
    out
}

/// `anchor cmd status`: a summary line, the nodes, then the updates outstanding.
pub fn cmd_status_tables(status: &CmdStatus) -> String {
    let nodes: Vec<Vec<String>> = status
        .nodes
        .iter()
        .map(|n| {
            let prefixes = n
                .prefixes
                .iter()
                .map(|p| {
                    if p.anchor == n.serving {
                        format!("{} (local, {})", p.prefix, p.policy.name())
                    } else {
                        format!("{} (anchor {}, {})", p.prefix, p.anchor, p.policy.name())
                    }
                })
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                n.mn.to_mn_id().to_string(),
                n.serving.to_string(),
                format!("{}s", n.expires_unix_s.saturating_sub(status.read_unix_s)),
                prefixes,
            ]
        })
        .collect();
    let updates: Vec<Vec<String>> = status
        .nodes
        .iter()
        .flat_map(|n| {
            n.pending.iter().map(|u| {
                vec![
                    u.to.to_string(),
                    u.sequence.to_string(),
                    n.mn.to_mn_id().to_string(),
                    u.serving.to_string(),
                    u.anchored
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    u.lifetime.to_string(),
                ]
            })
        })
        .collect();
    let mut out = format!(
        "store {}: {} node(s), {} update(s) outstanding\n",
        status.store,
        status.nodes.len(),
        status.outstanding_updates
    );
    if let Some(leader) = &status.leader {
        out.push_str("leader: ");
        out.push_str(leader.as_deref().unwrap_or("none (no instance leads)"));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&table(
        &["MN_ID", "SERVING", "EXPIRES_IN", "PREFIXES"],
        &nodes,
        &[2],
    ));
    out.push('\n');
    out.push_str(&table(
        &[
            "UPDATE_TO",
            "SEQ",
            "MN_ID",
            "SERVING",
            "ANCHORED",
            "LIFETIME",
        ],
        &updates,
        &[1, 5],
    ));
    out
}

pub fn stats_tables(report: &StatsReport) -> String {
    let counters: Vec<Vec<String>> = report
        .counters
        .iter()
        .map(|c| vec![c.name.clone(), c.packets.to_string(), c.bytes.to_string()])
        .collect();
    let bindings: Vec<Vec<String>> = report
        .bindings
        .iter()
        .map(|b| {
            vec![
                b.prefix.to_string(),
                b.kind.as_str().to_owned(),
                b.peer.to_string(),
                b.to_mn_packets.to_string(),
                b.to_mn_bytes.to_string(),
                b.from_mn_packets.to_string(),
                b.from_mn_bytes.to_string(),
            ]
        })
        .collect();
    let mut out = table(&["COUNTER", "PACKETS", "BYTES"], &counters, &[1, 2]);
    out.push('\n');
    out.push_str(&table(
        &[
            "BINDING",
            "KIND",
            "PEER",
            "TO_MN_PACKETS",
            "TO_MN_BYTES",
            "FROM_MN_PACKETS",
            "FROM_MN_BYTES",
        ],
        &bindings,
        &[3, 4, 5, 6],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BindingKindName, CounterInfo};

    #[test]
    fn bindings_are_aligned() {
        let text = bindings_table(&[BindingInfo {
            prefix: "2001:db8:1:1::/64".parse().expect("p"),
            kind: BindingKindName::Redirect,
            peer: "2001:db8:ff::2".parse().expect("a"),
            reverse_tunnel: false,
            dev: None,
            mac: None,
            slot: 3,
        }]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "PREFIX             KIND      PEER            REVERSE_TUNNEL  DEV  MAC  SLOT"
        );
        assert_eq!(
            lines[1],
            "2001:db8:1:1::/64  redirect  2001:db8:ff::2  no              -    -       3"
        );
    }

    #[test]
    fn stats_have_both_tables() {
        let text = stats_tables(&StatsReport {
            counters: vec![CounterInfo {
                name: "rx".into(),
                packets: 12,
                bytes: 3400,
            }],
            bindings: vec![],
        });
        assert!(
            text.starts_with("COUNTER  PACKETS  BYTES\nrx            12   3400\n\nBINDING"),
            "{text}"
        );
    }

    #[test]
    fn mn_list_has_both_tables() {
        let text = mn_tables(&MnListReport {
            served: vec![crate::api::ServedNode {
                mn_id: "02:00:00:00:00:01".into(),
                dev: "eth1".into(),
                prefix: "2001:db8:1::/64".parse().expect("p"),
                policy: anchor_maar::Policy::Nonpersistent,
                phase: anchor_maar::engine::Phase::Registered,
                visiting: vec![],
            }],
            anchored: vec![crate::api::AnchoredPrefix {
                prefix: "2001:db8:1:1::/64".parse().expect("p"),
                mn_id: "02:00:00:00:00:02".into(),
                serving: "2001:db8:12::2".parse().expect("a"),
                policy: anchor_maar::Policy::SessionLasting,
                idle_s: Some(5),
                idle_release_s: Some(600),
                release_pending: false,
            }],
        });
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                "MN_ID              DEV   PREFIX           POLICY         PHASE       VISITING",
                "02:00:00:00:00:01  eth1  2001:db8:1::/64  nonpersistent  registered  -",
                "",
                "ANCHORED           MN_ID              SERVING         POLICY           IDLE",
                "2001:db8:1:1::/64  02:00:00:00:00:02  2001:db8:12::2  session-lasting  5s of 600s",
            ]
        );
    }
}
