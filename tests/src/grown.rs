//! The scenario tests on a grown rig ([`anchor_rig::grown`]): a topology file's namespaces, the
//! CMD and a MAAR per access router, TCP from a mobile node to the correspondent, and what each
//! router and the CMD hold (bindings, `mn list`, routes, the MAAR's and the CMD's state files).

use std::{
    net::{Ipv6Addr, SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use anchor_rig::{
    Daemon, WorkDir,
    grown::{
        Daemons, Grown, Spec,
        bird::Birds,
        plan::{CN, NEAR},
    },
};
use ipnet::Ipv6Net;
use serde_json::Value;

use crate::{
    scenario::DEADLINE,
    support::{Connect, anchor_binary, connect_in, in_netns, require_tools, stats_json},
};

/// A grown rig with its daemons running. The fields drop in order: the daemons stop before the
/// namespaces go, and the work directory (kept when a test fails) goes last.
pub struct GrownScenario {
    daemons: Option<Daemons>,
    pub grown: Grown,
    pub dir: WorkDir,
}

impl GrownScenario {
    /// Removes the rigs of dead runs, builds `spec` in namespaces `ang-<tag><pid>-*` and starts
    /// the CMD and the MAARs. No node is attached (their `start_at` is not used).
    pub fn start(tag: &str, spec: &Spec) -> GrownScenario {
        let anchor = anchor_binary();
        require_tools(&[
            &["ip", "-V"],
            &["ethtool", "--version"],
            &["sysctl", "--version"],
        ]);
        let stem = format!("ang-{tag}");
        anchor_rig::grown::remove_stale(&stem)
            .unwrap_or_else(|e| panic!("cannot remove a stale rig: {e:#}"));
        let dir =
            WorkDir::create(&format!("anchor-grown-{tag}")).unwrap_or_else(|e| panic!("{e:#}"));
        let grown = Grown::build(spec, &format!("{stem}{}-", std::process::id()))
            .unwrap_or_else(|e| panic!("cannot build the rig: {e:#}"));
        let daemons = Daemons::start(&grown, &anchor, dir.path())
            .unwrap_or_else(|e| panic!("cannot start the daemons: {e:#}"));
        GrownScenario {
            daemons: Some(daemons),
            grown,
            dir,
        }
    }

    pub fn spec(&self) -> &Spec {
        self.grown.spec()
    }

    fn daemons(&self) -> &Daemons {
        self.daemons.as_ref().expect("the daemons run")
    }

    /// Stops the CMD (SIGTERM); the routers go on without it.
    pub fn stop_cmd(&mut self) {
        self.daemons
            .as_mut()
            .expect("the daemons run")
            .stop_cmd()
            .unwrap_or_else(|e| panic!("{e:#}"));
    }

    /// The daemon of access router `ar`, or of the near anchor
    /// ([`NEAR`](anchor_rig::grown::plan::NEAR)).
    pub fn router(&self, ar: &str) -> &Daemon {
        self.daemons().router(ar)
    }

    /// The BIRDs of a topology with `[bgp]`.
    pub fn birds(&self) -> &Birds {
        self.daemons()
            .birds()
            .expect("the topology has [bgp]: BIRD runs")
    }

    /// Access router `ar`'s locator.
    pub fn locator(&self, ar: &str) -> Ipv6Addr {
        self.spec()
            .access_router(ar)
            .unwrap_or_else(|| panic!("no access router {ar}"))
            .locator
    }

    /// The access router whose locator is `addr`.
    pub fn router_at(&self, addr: &str) -> Option<&str> {
        self.spec()
            .access_routers
            .iter()
            .find(|ar| ar.locator.to_string() == addr)
            .map(|ar| ar.name.as_str())
    }

    /// The first /64 of `ar`'s pool: what it delegates to the first node it serves.
    pub fn first_prefix(&self, ar: &str) -> Ipv6Net {
        let pool = self.spec().access_router(ar).expect("access router").pool;
        Ipv6Net::new(pool.network(), 64).expect("a /64")
    }

    /// Mobile node `mn`'s SLAAC address in `prefix`.
    pub fn slaac(&self, mn: &str, prefix: Ipv6Net) -> Ipv6Addr {
        self.spec()
            .mobile_node(mn)
            .expect("mobile node")
            .mac
            .slaac_address(prefix)
    }

    /// Waits until `mn` holds `addr`/64 on its link to `ar`, preferred (not deprecated) when
    /// `preferred`; polls every 5 ms, so that the time to an address can be measured.
    pub fn wait_for_address(&self, mn: &str, ar: &str, addr: Ipv6Addr, preferred: bool) {
        let want = format!("{addr}/64");
        let end = Instant::now() + DEADLINE;
        loop {
            let shown = self
                .grown
                .node_addresses(mn, ar)
                .unwrap_or_else(|e| panic!("{e:#}"));
            if shown
                .lines()
                .any(|l| l.contains(&want) && !(preferred && l.contains("deprecated")))
            {
                return;
            }
            assert!(
                Instant::now() < end,
                "no {want} on {mn}'s link to {ar} within {DEADLINE:?}:\n{shown}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A TCP listener on the correspondent.
    pub fn listen(&self, port: u16) -> TcpListener {
        let cn = self.spec().correspondent.address;
        in_netns(&self.grown.ns(CN), || {
            TcpListener::bind((cn, port)).unwrap_or_else(|e| panic!("listen on [{cn}]:{port}: {e}"))
        })
    }

    /// A TCP connection from `mn`'s `source` to the correspondent's `port`: TCP_USER_TIMEOUT
    /// `user_timeout`, read timeout [`DEADLINE`].
    pub fn connect(
        &self,
        mn: &str,
        source: Ipv6Addr,
        port: u16,
        user_timeout: Duration,
    ) -> TcpStream {
        let how = Connect {
            source: Some(source),
            user_timeout: Some(user_timeout),
            read_timeout: DEADLINE,
            nodelay: true,
        };
        connect_in(
            &self.grown.ns(mn),
            self.spec().correspondent.address,
            port,
            &how,
        )
    }

    /// A connection from `mn` to the correspondent's `port`, its source address chosen by the
    /// kernel; read timeout [`DEADLINE`].
    pub fn connect_any(&self, mn: &str, port: u16) -> TcpStream {
        let how = Connect {
            source: None,
            user_timeout: None,
            read_timeout: DEADLINE,
            nodelay: false,
        };
        connect_in(
            &self.grown.ns(mn),
            self.spec().correspondent.address,
            port,
            &how,
        )
    }

    /// A connection from `mn` to the correspondent's `port`, its source chosen by the kernel,
    /// which must be in `prefix` (the node's newest prefix), and that echoes.
    pub fn new_connection_from(&self, mn: &str, port: u16, prefix: Ipv6Net) -> TcpStream {
        let mut stream = self.connect_any(mn, port);
        let SocketAddr::V6(local) = stream.local_addr().expect("local address") else {
            panic!("an IPv4 connection")
        };
        assert!(
            prefix.contains(local.ip()),
            "a connection opened now should use {prefix}, it uses {}",
            local.ip()
        );
        assert_eq!(
            crate::scenario::echo(&mut stream, b"new session"),
            Ok(b"new session".to_vec())
        );
        stream
    }

    /// With `dmm = "client"`: mobile node `mn`'s client status (`status_file`), `Null` before
    /// its first write.
    pub fn client_status(&self, mn: &str) -> Value {
        std::fs::read_to_string(self.daemons().client_status(mn))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null)
    }

    /// With `dmm = "client"`: mobile node `mn`'s client log so far.
    pub fn client_log(&self, mn: &str) -> String {
        self.daemons().client_log(mn)
    }

    /// The CMD's log so far.
    pub fn cmd_log(&self) -> String {
        self.daemons().cmd_log()
    }

    /// The TCP segments the correspondent has retransmitted.
    pub fn cn_tcp_retransmissions(&self) -> u64 {
        crate::support::tcp_retransmissions(&self.grown.ns(CN))
    }

    /// `anchor binding list --json` of `ar`.
    pub fn bindings(&self, ar: &str) -> Vec<Value> {
        let out = self
            .router(ar)
            .cli(&["binding", "list", "--json"])
            .unwrap_or_else(|e| panic!("{e:#}"));
        match serde_json::from_str(&out) {
            Ok(Value::Array(list)) => list,
            _ => panic!("{ar}: `binding list --json` printed {out}"),
        }
    }

    /// `ar`'s binding for `prefix`.
    pub fn binding(&self, ar: &str, prefix: Ipv6Net) -> Option<Value> {
        let prefix = prefix.to_string();
        self.bindings(ar)
            .into_iter()
            .find(|b| b["prefix"] == prefix)
    }

    /// The packets `ar`'s binding for `prefix` counted toward the node and from it (`anchor
    /// stats --json`); zeros without a binding.
    pub fn binding_packets(&self, ar: &str, prefix: Ipv6Net) -> (u64, u64) {
        let stats = stats_json(self.router(ar));
        let prefix = prefix.to_string();
        stats["bindings"]
            .as_array()
            .and_then(|list| list.iter().find(|b| b["prefix"] == prefix.as_str()))
            .map_or((0, 0), |b| {
                (
                    b["to_mn_packets"].as_u64().unwrap_or(0),
                    b["from_mn_packets"].as_u64().unwrap_or(0),
                )
            })
    }

    /// `anchor mn list --json` of `ar`.
    pub fn mn_list(&self, ar: &str) -> Value {
        let out = self
            .router(ar)
            .cli(&["mn", "list", "--json"])
            .unwrap_or_else(|e| panic!("{e:#}"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{ar}: {e}: {out}"))
    }

    /// The routes of `ar` into any access router's pool (`ip -6 route show`), one line each.
    pub fn pool_routes(&self, ar: &str) -> Vec<String> {
        let pools: Vec<Ipv6Net> = self.spec().access_routers.iter().map(|a| a.pool).collect();
        self.grown
            .ip_stdout(ar, &["-6", "route", "show"])
            .unwrap_or_else(|e| panic!("{e:#}"))
            .lines()
            .filter(|line| {
                let dest = line.split_whitespace().next().unwrap_or_default();
                dest.parse::<Ipv6Net>()
                    .is_ok_and(|net| pools.iter().any(|pool| pool.contains(&net)))
            })
            .map(|line| line.trim().to_owned())
            .collect()
    }

    /// `ar`'s (or the near anchor's) state file (`maar.json`): its pool allocations are the served and anchored
    /// prefixes. An absent file is an empty state.
    pub fn maar_state(&self, ar: &str) -> Value {
        let path = self.daemons().state_dir(ar).join("maar.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
            Err(_) => serde_json::json!({"served": [], "anchored": []}),
        }
    }

    /// The prefixes `ar`'s pool has allocated (served and anchored, from its state file).
    pub fn allocated(&self, ar: &str) -> Vec<String> {
        let state = self.maar_state(ar);
        ["served", "anchored"]
            .iter()
            .flat_map(|key| state[key].as_array().cloned().unwrap_or_default())
            .filter_map(|entry| entry["prefix"].as_str().map(str::to_owned))
            .collect()
    }

    /// The CMD's store: its records (JSON array).
    pub fn cmd_records(&self) -> Vec<Value> {
        let path = self.daemons().cmd_store();
        match std::fs::read_to_string(&path) {
            Ok(text) => match serde_json::from_str(&text) {
                Ok(Value::Array(records)) => records,
                _ => panic!("{}: not a JSON array: {text}", path.display()),
            },
            Err(_) => Vec::new(),
        }
    }

    /// Everything the routers and the CMD hold, for failure messages.
    #[expect(
        clippy::format_push_string,
        reason = "a failure message built once: each line reads as it prints"
    )]
    pub fn state_dump(&self) -> String {
        let mut text = String::new();
        for ar in &self.spec().access_routers {
            let name = &ar.name;
            text.push_str(&format!(
                "{name}: bindings {}\n{name}: mn list {}\n{name}: pool routes {:?}\n{name}: \
                 allocated {:?}\n",
                Value::Array(self.bindings(name)),
                self.mn_list(name),
                self.pool_routes(name),
                self.allocated(name)
            ));
        }
        if self.spec().near_anchor.is_some() {
            text.push_str(&format!(
                "near: bindings {}\nnear: state {}\n",
                Value::Array(self.bindings(NEAR)),
                self.maar_state(NEAR)
            ));
        }
        if self.spec().maar.dmm == anchor_rig::grown::spec::Dmm::Client {
            for mn in &self.spec().mobile_nodes {
                text.push_str(&format!(
                    "{}: client status {}\n",
                    mn.name,
                    self.client_status(&mn.name)
                ));
            }
        } else {
            text.push_str(&format!(
                "CMD records: {}\n",
                Value::Array(self.cmd_records())
            ));
        }
        text
    }

    /// Stops the routers and the CMD, checking that they exit cleanly.
    pub fn stop(mut self) {
        if let Some(daemons) = self.daemons.take() {
            daemons
                .stop()
                .unwrap_or_else(|e| panic!("the daemons did not stop cleanly: {e:#}"));
        }
    }
}

/// Polls `check` until it returns `None` (nothing wrong) and returns how long that took; fails
/// after `deadline` with the last thing `check` found wrong.
pub fn wait_until_right(
    what: &str,
    deadline: Duration,
    mut check: impl FnMut() -> Option<String>,
) -> Duration {
    let started = Instant::now();
    loop {
        match check() {
            None => return started.elapsed(),
            Some(wrong) => assert!(
                started.elapsed() < deadline,
                "no {what} within {deadline:?}; still: {wrong}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
