use super::*;

const IFACE: &str = "\n[[interface]]\nname = \"eth0\"\nrole = \"core\"\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, "test.toml")
}

fn with_iface(head: &str) -> String {
    format!("locator = \"2001:db8:ff::1\"\n{head}\n{IFACE}")
}

#[test]
fn minimal_config_gets_defaults() {
    let config = parse(&with_iface("")).expect("valid");
    assert_eq!(
        config.locator,
        "2001:db8:ff::1".parse::<Ipv6Addr>().expect("addr")
    );
    assert_eq!(config.api_socket, PathBuf::from(DEFAULT_API_SOCKET));
    assert_eq!(config.tunnel_mtu, 1500);
    assert_eq!(config.outer_hop_limit, 64);
    assert_eq!(config.max_bindings, 1_048_576);
    assert_eq!(config.log_level, LogLevel::Info);
    assert_eq!(config.log_format, LogFormat::Text);
    assert_eq!(
        config.metrics_listen,
        Some(SocketAddr::from(([127, 0, 0, 1], 9469)))
    );
    assert_eq!(config.metrics_binding_labels_max, 1000);
    assert_eq!(
        config.interfaces,
        vec![InterfaceConfig {
            name: "eth0".into(),
            role: IfaceRole::Core,
            xdp_mode: XdpMode::Native,
            source_validation: false,
        }]
    );
    assert!(config.datapath_params().log);
}

#[test]
fn metrics_and_log_keys() {
    let config = parse(&with_iface(
        "metrics_listen = \"[::1]:9100\"\nmetrics_binding_labels_max = 0\nlog_format = \"json\"\nlog_level = \"off\"",
    ))
    .expect("valid");
    assert_eq!(config.metrics_listen, "[::1]:9100".parse().ok());
    assert_eq!(config.metrics_binding_labels_max, 0);
    assert_eq!(config.log_format, LogFormat::Json);
    assert_eq!(config.log_level, LogLevel::Off);
    let config = parse(&with_iface("metrics_listen = \"\"")).expect("valid");
    assert_eq!(config.metrics_listen, None);
    for bad in ["\"localhost:9469\"", "\"127.0.0.1\"", "9469"] {
        let err = parse(&with_iface(&format!("metrics_listen = {bad}"))).expect_err(bad);
        assert!(
            matches!(err, ConfigError::Parse { line: Some(2), .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("metrics_listen"), "{err}");
    }
    let err = parse(&with_iface("log_format = \"xml\"")).expect_err("format");
    assert!(err.to_string().contains("log_format"), "{err}");
}

#[test]
fn full_config() {
    let text = r#"
        locator = "2001:db8:ff::1"
        api_socket = "/tmp/a.sock"
        tunnel_mtu = 9000
        outer_hop_limit = 255
        max_bindings = 1
        log_level = "debug"
        [[interface]]
        name = "a"
        role = "core"
        xdp_mode = "skb"
        [[interface]]
        name = "b"
        role = "access"
        xdp_mode = "native"
    "#;
    let config: Config = text.parse().expect("valid");
    assert_eq!(config.interfaces.len(), 2);
    assert_eq!(config.interfaces[0].xdp_mode, XdpMode::Skb);
    assert_eq!(config.interfaces[1].role, IfaceRole::Access);
    assert_eq!(config.log_level, LogLevel::Debug);
    let params = config.datapath_params();
    assert_eq!(params.outer_hop_limit, 255);
    assert!(params.log);
}

#[test]
fn unknown_key_is_named() {
    let err = parse(&with_iface("tunel_mtu = 1500")).expect_err("unknown key");
    assert!(
        matches!(err, ConfigError::Parse { line: Some(2), .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("tunel_mtu"), "{msg}");
    assert!(msg.starts_with("test.toml: line 2: "), "{msg}");
}

#[test]
fn unknown_interface_key_is_named() {
    let err = parse(&format!("locator = \"2001:db8::1\"{IFACE}mode = \"skb\"\n"))
        .expect_err("unknown key");
    assert!(err.to_string().contains("mode"), "{err}");
}

#[test]
fn bad_type_names_the_key() {
    let err = parse(&with_iface("tunnel_mtu = \"big\"")).expect_err("bad type");
    let msg = err.to_string();
    assert!(msg.contains("tunnel_mtu"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
}

#[test]
fn bad_locator() {
    let err = parse(&format!("locator = \"2001:db8::zz\"{IFACE}")).expect_err("bad address");
    assert!(err.to_string().contains("locator"), "{err}");
    let err = parse(&format!("locator = \"ff02::1\"{IFACE}")).expect_err("multicast");
    assert!(matches!(err, ConfigError::LocatorNotUnicast { .. }));
    let err = parse(&format!("locator = \"::\"{IFACE}")).expect_err("unspecified");
    assert!(matches!(err, ConfigError::LocatorNotUnicast { .. }));
}

#[test]
fn missing_locator() {
    let err = parse(IFACE).expect_err("missing");
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(err.to_string().contains("locator"), "{err}");
}

#[test]
fn tunnel_mtu_bounds() {
    let err = parse(&with_iface("tunnel_mtu = 1200")).expect_err("small");
    assert!(matches!(
        err,
        ConfigError::TunnelMtuTooSmall {
            value: 1200,
            min: 1320,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "test.toml: tunnel_mtu = 1200 is below the minimum 1320"
    );
    assert!(parse(&with_iface("tunnel_mtu = 1320")).is_ok());
    assert!(parse(&with_iface("tunnel_mtu = 65535")).is_ok());
    let err = parse(&with_iface("tunnel_mtu = 65536")).expect_err("large");
    assert!(matches!(
        err,
        ConfigError::TunnelMtuTooLarge { value: 65536, .. }
    ));
    let err = parse(&with_iface("tunnel_mtu = -1")).expect_err("negative");
    assert!(matches!(err, ConfigError::Parse { .. }));
}

#[test]
fn outer_hop_limit_bounds() {
    for bad in ["0", "256"] {
        let err = parse(&with_iface(&format!("outer_hop_limit = {bad}"))).expect_err("range");
        assert!(
            matches!(err, ConfigError::OuterHopLimitOutOfRange { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("outer_hop_limit"));
    }
    assert!(parse(&with_iface("outer_hop_limit = 1")).is_ok());
}

#[test]
fn instance_and_bpffs() {
    let config = parse(&with_iface("")).expect("valid");
    assert_eq!(config.instance, "default");
    assert_eq!(config.bpffs, PathBuf::from("/sys/fs/bpf"));
    let config = parse(&with_iface(
        "instance = \"r1\"\nbpffs = \"/run/anchor/bpf\"",
    ))
    .expect("valid");
    assert_eq!(config.instance, "r1");
    assert_eq!(config.bpffs, PathBuf::from("/run/anchor/bpf"));
    for bad in ["\"\"", "\"a/b\"", "\"..\""] {
        let err = parse(&with_iface(&format!("instance = {bad}"))).expect_err(bad);
        assert!(
            matches!(err, ConfigError::InvalidInstance { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("instance"), "{err}");
    }
    let err = parse(&with_iface("bpffs = \"sys/fs/bpf\"")).expect_err("relative");
    assert_eq!(
        err.to_string(),
        "test.toml: bpffs = \"sys/fs/bpf\" is not an absolute path"
    );
}

#[test]
fn max_bindings_zero() {
    let err = parse(&with_iface("max_bindings = 0")).expect_err("zero");
    assert!(matches!(err, ConfigError::MaxBindingsZero { .. }));
    assert!(err.to_string().contains("max_bindings"));
}

#[test]
fn bad_log_level() {
    let err = parse(&with_iface("log_level = \"loud\"")).expect_err("level");
    assert!(matches!(err, ConfigError::Parse { .. }));
    assert!(err.to_string().contains("log_level"), "{err}");
}

#[test]
fn empty_api_socket() {
    let err = parse(&with_iface("api_socket = \"\"")).expect_err("empty");
    assert!(matches!(err, ConfigError::EmptyApiSocket { .. }));
}

#[test]
fn no_interface() {
    let err = parse("locator = \"2001:db8::1\"").expect_err("none");
    assert!(matches!(err, ConfigError::NoInterface { .. }));
}

#[test]
fn point_to_point_links_must_be_access_interfaces() {
    let maar = |dev: &str| {
        format!(
            "locator = \"2001:db8::1\"\n[[interface]]\nname = \"eth0\"\nrole = \"core\"\n\
             [[interface]]\nname = \"eth1\"\nrole = \"access\"\n\
             [maar]\ncmd = \"2001:db8:c::1\"\n[[maar.pool]]\nprefix = \"2001:db8:1::/48\"\n\
             policy = \"session-lasting\"\n{dev}"
        )
    };
    let p2p = |dev: &str| {
        format!("[[maar.point_to_point]]\ndev = \"{dev}\"\nmn_id = \"02:00:00:00:00:01\"\n")
    };
    let config = parse(&maar(&p2p("eth1"))).expect("an access interface");
    let links = &config.maar.expect("maar").point_to_point;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].dev, "eth1");
    let err = parse(&maar(&p2p("eth0"))).expect_err("a core interface");
    assert_eq!(
        err.to_string(),
        "test.toml: maar.point_to_point[0].dev: eth0 is not an [[interface]] with role = \"access\""
    );
    let err = parse(&maar(&(p2p("eth1") + &p2p("eth1")))).expect_err("twice");
    assert!(matches!(&err, ConfigError::PointToPoint { index: 1, dev, .. } if dev == "eth1"));
}

#[test]
fn duplicate_interface() {
    let err = parse(&format!("locator = \"2001:db8::1\"{IFACE}{IFACE}")).expect_err("dup");
    assert!(matches!(&err, ConfigError::DuplicateInterface { name, .. } if name == "eth0"));
    assert_eq!(
        err.to_string(),
        "test.toml: interface eth0 is configured more than once"
    );
}

#[test]
fn source_validation_only_on_access_interfaces() {
    let cfg = parse(&format!("locator = \"2001:db8::1\"{IFACE}")).expect("default");
    assert!(!cfg.interfaces[0].source_validation);
    let access = format!("locator = \"2001:db8::1\"{IFACE}").replace("core", "access");
    let cfg = parse(&format!("{access}source_validation = true\n")).expect("access");
    assert!(cfg.interfaces[0].source_validation);
    let cfg = parse(&format!(
        "locator = \"2001:db8::1\"{IFACE}source_validation = false\n"
    ))
    .expect("off on core");
    assert!(!cfg.interfaces[0].source_validation);
    let err = parse(&format!(
        "locator = \"2001:db8::1\"{IFACE}source_validation = true\n"
    ))
    .expect_err("core");
    assert!(matches!(&err, ConfigError::SourceValidationNotAccess { name, .. } if name == "eth0"));
    assert_eq!(
        err.to_string(),
        "test.toml: interface eth0: source_validation = true needs role = \"access\""
    );
}

#[test]
fn interface_fields() {
    let err =
        parse("locator = \"2001:db8::1\"\n[[interface]]\nname = \"eth0\"\n").expect_err("no role");
    assert!(err.to_string().contains("role"), "{err}");
    let err =
        parse("locator = \"2001:db8::1\"\n[[interface]]\nrole = \"core\"\n").expect_err("no name");
    assert!(err.to_string().contains("name"), "{err}");
    let err = parse(&format!("locator = \"2001:db8::1\"{IFACE}").replace("core", "edge"))
        .expect_err("bad role");
    assert!(err.to_string().contains("role"), "{err}");
    let err = parse(&format!(
        "locator = \"2001:db8::1\"{IFACE}xdp_mode = \"hw\"\n"
    ))
    .expect_err("bad mode");
    assert!(err.to_string().contains("xdp_mode"), "{err}");
    let err = parse(&format!("locator = \"2001:db8::1\"{IFACE}").replace("eth0", "a/b"))
        .expect_err("bad name");
    assert!(matches!(err, ConfigError::InvalidInterfaceName { .. }));
    let err =
        parse(&format!("locator = \"2001:db8::1\"{IFACE}").replace("eth0", "0123456789abcdef"))
            .expect_err("long name");
    assert!(matches!(err, ConfigError::InvalidInterfaceName { .. }));
}

#[test]
fn syntax_error_is_one_line() {
    let err = parse("locator = \n").expect_err("syntax");
    assert!(!err.to_string().contains('\n'), "{err}");
}

#[test]
fn missing_file() {
    let err = Config::from_file("/nonexistent/anchor.toml").expect_err("missing");
    assert!(matches!(err, ConfigError::Read { .. }));
    assert_eq!(err.to_string(), "cannot read /nonexistent/anchor.toml");
}
