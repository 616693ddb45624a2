use std::os::unix::fs::PermissionsExt;

use serde_json::json;

use super::*;

fn policy(value: Value) -> SshVerifyConfig {
    SshVerifyConfig::from_json(&value).unwrap()
}

fn request() -> PendingDevice {
    PendingDevice {
        request_id: "r1".into(),
        device_id: "dev1".into(),
        public_key: "pk".into(),
        display_name: None,
        platform: Some("linux".into()),
        device_family: Some("Linux".into()),
        client_id: Some("node-host".into()),
        client_mode: Some("node".into()),
        role: "node".into(),
        roles: vec!["node".into()],
        scopes: Vec::new(),
        remote_ip: Some("10.1.2.3".into()),
        silent: false,
        is_repair: false,
        ts: Some(1),
    }
}

fn claim() -> DeviceClaim {
    DeviceClaim {
        device_id: "dev1".into(),
        public_key: "pk".into(),
        role: "node".into(),
        client_id: Some("node-host".into()),
        client_mode: Some("node".into()),
        ..Default::default()
    }
}

fn peer(ip: &str) -> Peer {
    Peer { ip: ip.parse().unwrap(), direct_local: false }
}

fn on_as(user: &str) -> SshVerifyConfig {
    policy(json!({"user": user}))
}

#[test]
fn config_forms_and_their_errors() {
    assert_eq!(SshVerifyConfig::default(), SshVerifyConfig::On(SshVerifyPolicy::default()));
    assert_eq!(policy(json!(false)), SshVerifyConfig::Off);
    assert_eq!(policy(json!(true)), SshVerifyConfig::default());
    let SshVerifyConfig::On(p) = policy(json!({"user": " deploy ", "identity": "  ", "timeoutMs": 1500,
        "cidrs": [" 192.168.0.0/16", "", "10.0.0.0/8"]}))
    else {
        panic!("on")
    };
    assert_eq!(p.user.as_deref(), Some("deploy"));
    assert_eq!(p.identity, None, "a blank identity is the default");
    assert_eq!(p.timeout(), Duration::from_millis(1500));
    assert_eq!(p.cidrs_text, vec!["10.0.0.0/8", "192.168.0.0/16"], "trimmed, blanks dropped, sorted");
    assert_eq!(p.cidrs.len(), 2);
    let SshVerifyConfig::On(p) = policy(json!({"timeoutMs": 5})) else { panic!("on") };
    assert_eq!(p.timeout(), Duration::from_millis(MIN_TIMEOUT_MS), "never below the floor");
    let SshVerifyConfig::On(p) = policy(json!({})) else { panic!("on") };
    assert_eq!(p.timeout(), Duration::from_millis(DEFAULT_TIMEOUT_MS));

    let err = |v: Value| SshVerifyConfig::from_json(&v).unwrap_err().to_string();
    assert_eq!(
        err(json!("yes")),
        "gateway.nodes.pairing.sshVerify must be false, true or an object {user?, identity?, timeoutMs?, cidrs?}"
    );
    assert_eq!(
        err(json!({"port": 2222})),
        "gateway.nodes.pairing.sshVerify.port is not a setting (the keys are user, identity, timeoutMs, cidrs)"
    );
    assert_eq!(err(json!({"user": 7})), "gateway.nodes.pairing.sshVerify.user must be a string");
    for bad in [json!(0), json!(-5), json!(1.5), json!("7000")] {
        assert_eq!(
            err(json!({"timeoutMs": bad})),
            "gateway.nodes.pairing.sshVerify.timeoutMs must be a positive integer number of milliseconds (default 7000)"
        );
    }
    assert_eq!(
        err(json!({"cidrs": "10.0.0.0/8"})),
        "gateway.nodes.pairing.sshVerify.cidrs must be a list of CIDRs or IP addresses"
    );
    assert_eq!(
        err(json!({"cidrs": [8]})),
        "gateway.nodes.pairing.sshVerify.cidrs must be a list of CIDRs or IP addresses"
    );
    assert_eq!(
        err(json!({"cidrs": ["10.0.0.0/99"]})),
        r#"gateway.nodes.pairing.sshVerify.cidrs: invalid CIDR "10.0.0.0/99": bad prefix"#
    );
}

#[test]
fn the_gateway_config_reads_it_and_refuses_bad_values() {
    use openclaw_state::config::OpenClawConfig;
    let mut config = crate::GatewayConfig::new("/state".into(), crate::AuthMode::None);
    assert_eq!(config.ssh_verify, SshVerifyConfig::default(), "on by default");
    let file = |v: Value| OpenClawConfig::from_value(json!({"gateway": {"nodes": {"pairing": {"sshVerify": v}}}}));
    config.apply_config_file(&file(json!(false))).unwrap();
    assert_eq!(config.ssh_verify, SshVerifyConfig::Off);
    let e = config.apply_config_file(&file(json!({"timeoutMs": 0}))).unwrap_err();
    assert!(e.to_string().starts_with("gateway.nodes.pairing.sshVerify.timeoutMs must be"), "{e}");
}

#[test]
fn default_ranges_are_private_link_local_cgnat_and_ula_but_not_loopback() {
    for ip in ["10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.3.3", "100.64.0.1", "100.127.255.254"] {
        assert!(is_default_probe_address(ip.parse().unwrap()), "{ip}");
    }
    for ip in ["fd12::1", "fc00::5", "fe80::1", "::ffff:10.1.2.3", "64:ff9b::a01:203", "2002:c0a8:101::1"] {
        assert!(is_default_probe_address(ip.parse().unwrap()), "{ip}");
    }
    for ip in
        ["8.8.8.8", "100.128.0.1", "172.32.0.1", "2001:4860::1", "::ffff:8.8.8.8", "64:ff9b::808:808", "127.0.0.1"]
    {
        assert!(!is_default_probe_address(ip.parse().unwrap()), "{ip}");
    }
    let c = on_as("u");
    assert!(plan(&c, &claim(), &request(), PairingReason::NotPaired, peer("127.0.0.1")).is_none());
    assert!(plan(&c, &claim(), &request(), PairingReason::NotPaired, peer("::1")).is_none());
    assert!(plan(&c, &claim(), &request(), PairingReason::NotPaired, peer("::ffff:127.0.0.1")).is_none());
}

#[test]
fn only_fresh_scopeless_node_requests_are_planned() {
    let c = on_as("deploy");
    let ok = plan(&c, &claim(), &request(), PairingReason::NotPaired, peer("::ffff:10.1.2.3")).unwrap();
    assert_eq!(ok.host, "10.1.2.3".parse::<IpAddr>().unwrap(), "IPv4-mapped addresses are unwrapped");
    assert_eq!(ok.user, "deploy");
    assert_eq!(ok.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
    let p = |c: &SshVerifyConfig, cl: &DeviceClaim, r: &PendingDevice, reason, ip| plan(c, cl, r, reason, peer(ip));
    assert!(p(&SshVerifyConfig::Off, &claim(), &request(), PairingReason::NotPaired, "10.1.2.3").is_none());
    assert!(p(&c, &claim(), &request(), PairingReason::NotPaired, "8.8.8.8").is_none(), "public address");
    for reason in [PairingReason::RoleUpgrade, PairingReason::ScopeUpgrade, PairingReason::MetadataUpgrade] {
        assert!(p(&c, &claim(), &request(), reason, "10.1.2.3").is_none());
    }
    let silent = PendingDevice { silent: true, ..request() };
    assert!(p(&c, &claim(), &silent, PairingReason::NotPaired, "10.1.2.3").is_none());
    let repair = PendingDevice { is_repair: true, ..request() };
    assert!(p(&c, &claim(), &repair, PairingReason::NotPaired, "10.1.2.3").is_none());
    let scoped = PendingDevice { scopes: vec!["operator.read".into()], ..request() };
    assert!(p(&c, &claim(), &scoped, PairingReason::NotPaired, "10.1.2.3").is_none());
    let operator = PendingDevice { role: "operator".into(), roles: vec!["operator".into()], ..request() };
    let op_claim = DeviceClaim { role: "operator".into(), ..claim() };
    assert!(p(&c, &op_claim, &operator, PairingReason::NotPaired, "10.1.2.3").is_none());
    let both = PendingDevice { roles: vec!["node".into(), "operator".into()], ..request() };
    assert!(p(&c, &claim(), &both, PairingReason::NotPaired, "10.1.2.3").is_none());
    let ui = DeviceClaim { client_id: Some("openclaw-control-ui".into()), client_mode: Some("ui".into()), ..claim() };
    assert!(p(&c, &ui, &request(), PairingReason::NotPaired, "10.1.2.3").is_none());
    assert!(p(&c, &claim(), &request(), PairingReason::NotPaired, "fe80::1").is_none(), "no zone to dial");
    assert!(p(&c, &claim(), &request(), PairingReason::NotPaired, "fd00::7").is_some());

    // With cidrs, they alone decide (loopback included when listed, as upstream).
    let cidrs = policy(json!({"user": "u", "cidrs": ["203.0.113.0/24", "127.0.0.1"]}));
    assert!(p(&cidrs, &claim(), &request(), PairingReason::NotPaired, "203.0.113.9").is_some());
    assert!(p(&cidrs, &claim(), &request(), PairingReason::NotPaired, "127.0.0.1").is_some());
    assert!(p(&cidrs, &claim(), &request(), PairingReason::NotPaired, "10.1.2.3").is_none());
}

#[test]
fn ssh_command_line_is_upstreams() {
    let c = policy(json!({"user": "deploy", "timeoutMs": 900}));
    let mut plan = plan(&c, &claim(), &request(), PairingReason::NotPaired, peer("10.1.2.3")).unwrap();
    let expected = "-o BatchMode=yes -o ConnectTimeout=5 -o NumberOfPasswordPrompts=0 \
        -o PreferredAuthentications=publickey -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -a -x \
        -o ForwardAgent=no -o ForwardX11=no -o ForwardX11Trusted=no -o ClearAllForwardings=yes \
        -o ExitOnForwardFailure=yes -p 22";
    let args = plan.ssh_args();
    assert_eq!(args[..args.len() - 3].join(" "), expected);
    assert_eq!(args[args.len() - 3..], ["--", "deploy@10.1.2.3", "sh -lc 'openclaw node identity --json'"]);
    plan.identity = Some("/keys/id_ed25519".into());
    let args = plan.ssh_args();
    assert_eq!(
        args[args.len() - 7..],
        ["-i", "/keys/id_ed25519", "-o", "IdentitiesOnly=yes", "--", "deploy@10.1.2.3", REMOTE_IDENTITY_COMMAND]
    );
}

const KEY_B64URL: &str = "1V0JLm7GDvA1b8f1u0Gu7GScE1wTCjQP8lTLuUpGtvA";

fn remote(device_id: &str, public_key: &str) -> RemoteIdentity {
    RemoteIdentity { device_id: device_id.into(), public_key: public_key.into() }
}

#[test]
fn the_first_identity_line_wins() {
    let out = "Welcome to box\n{not json\n{\"deviceId\": 5, \"publicKey\": \"x\"}\r\n  {\"deviceId\":\" d1 \",\"publicKey\":\"k1\"}  \r\n{\"deviceId\":\"d2\",\"publicKey\":\"k2\"}\n";
    assert_eq!(parse_remote_identity(out), Some(remote("d1", "k1")));
    assert_eq!(parse_remote_identity("no json here\n[]\n"), None);
    assert_eq!(parse_remote_identity("{\"deviceId\":\"d\"}"), None, "both fields are needed");
    assert_eq!(parse_remote_identity(""), None);
    // Deeply nested junk is refused by the parser's depth limit, not the stack.
    let deep = format!("{}\n{{\"deviceId\":\"d\",\"publicKey\":\"k\"}}", "{\"a\":".repeat(10_000));
    assert_eq!(parse_remote_identity(&deep), Some(remote("d", "k")));
}

#[test]
fn keys_are_compared_as_base64url() {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(KEY_B64URL).unwrap();
    let device_id = openclaw_protocol::device_auth::device_id_for_public_key(&raw.clone().try_into().unwrap());
    let standard = base64::engine::general_purpose::STANDARD.encode(&raw);
    assert_ne!(standard, KEY_B64URL);
    assert!(identity_matches(&device_id, KEY_B64URL, &remote(&device_id, KEY_B64URL)));
    assert!(identity_matches(&device_id, KEY_B64URL, &remote(&device_id, &standard)), "padding and alphabet differ");
    assert!(!identity_matches(&device_id, KEY_B64URL, &remote("other", KEY_B64URL)));
    let other_key = "A".repeat(43);
    assert!(!identity_matches(&device_id, KEY_B64URL, &remote(&device_id, &other_key)));
    assert!(
        !identity_matches(&device_id, "not a key", &remote(&device_id, "not a key")),
        "an unreadable key never matches"
    );
    let ok = ProbeResult::Ok(format!("{{\"deviceId\":\"{device_id}\",\"publicKey\":\"{standard}\"}}\n").into_bytes());
    assert_eq!(judge(&ok, &device_id, KEY_B64URL), Ok(()));
    assert_eq!(judge(&ok, "dev-x", KEY_B64URL), Err(NotApproved::IdentityMismatch));
    assert_eq!(
        judge(&ProbeResult::Ok(b"hello".to_vec()), &device_id, KEY_B64URL),
        Err(NotApproved::IdentityUnreadable)
    );
    assert_eq!(judge(&ProbeResult::Timeout, &device_id, KEY_B64URL), Err(NotApproved::ProbeFailed));
    let failed = ProbeResult::Failed { code: Some(255), stderr: String::new() };
    assert_eq!(judge(&failed, &device_id, KEY_B64URL), Err(NotApproved::ProbeFailed));
}

fn a_plan(host: &str) -> ProbePlan {
    plan(&on_as("u"), &claim(), &request(), PairingReason::NotPaired, peer(host)).unwrap()
}

#[test]
fn probes_are_shared_capped_and_cooled_down() {
    let v = SshVerifier::default();
    let now = Instant::now();
    let plan = a_plan("10.0.0.1");
    let Begin::Started(first) = v.begin(&plan, "d", "k", now) else { panic!("starts") };
    assert!(matches!(v.begin(&plan, "d", "k", now), Begin::AlreadyInFlight));
    // A different key (another device) is another probe, up to the cap.
    let mut held = Vec::new();
    for n in 1..MAX_CONCURRENT_PROBES {
        let Begin::Started(t) = v.begin(&plan, &format!("d{n}"), "k", now) else { panic!("slot {n}") };
        held.push(t);
    }
    assert!(matches!(v.begin(&plan, "d-late", "k", now), Begin::Busy));
    assert_eq!(v.in_flight(), MAX_CONCURRENT_PROBES);
    // A failure cools the key down for 60 s, a mismatch for 300 s; success is not remembered.
    first.finish(Err(NotApproved::ProbeFailed));
    assert!(matches!(v.begin(&plan, "d", "k", Instant::now()), Begin::CoolingDown));
    assert!(matches!(
        v.begin(&plan, "d", "k", Instant::now() + FAILURE_COOLDOWN + Duration::from_secs(1)),
        Begin::Started(_)
    ));
    let mismatch = held.pop().unwrap();
    mismatch.finish(Err(NotApproved::IdentityMismatch));
    let key = format!("d{}", MAX_CONCURRENT_PROBES - 1);
    let later = Instant::now() + FAILURE_COOLDOWN + Duration::from_secs(1);
    assert!(matches!(v.begin(&plan, &key, "k", later), Begin::CoolingDown));
    assert!(matches!(
        v.begin(&plan, &key, "k", Instant::now() + MISMATCH_COOLDOWN + Duration::from_secs(1)),
        Begin::Started(_)
    ));
    let ok = held.pop().unwrap();
    ok.finish(Ok(()));
    let key = format!("d{}", MAX_CONCURRENT_PROBES - 2);
    assert!(matches!(v.begin(&plan, &key, "k", Instant::now()), Begin::Started(_)));
    // A dropped ticket (a panicking or cancelled task) frees its slot.
    drop(held);
    assert_eq!(v.in_flight(), 0);
    // Another host, user or key is another probe.
    assert!(matches!(v.begin(&a_plan("10.0.0.2"), "d", "k", Instant::now()), Begin::Started(_)));
}

#[test]
fn cooldowns_are_bounded() {
    let v = SshVerifier::default();
    let plan = a_plan("10.0.0.1");
    for n in 0..MAX_COOLDOWN_ENTRIES + 20 {
        let Begin::Started(t) = v.begin(&plan, &format!("d{n}"), "k", Instant::now()) else { panic!("{n}") };
        t.finish(Err(NotApproved::ProbeFailed));
    }
    assert_eq!(v.lock().cooldowns.len(), MAX_COOLDOWN_ENTRIES);
    assert!(matches!(v.begin(&plan, "d0", "k", Instant::now()), Begin::Started(_)), "the oldest went first");
}

/// A stand-in for `ssh`: a script that records its arguments and then does `body`.
fn fake_ssh(dir: &std::path::Path, body: &str) -> String {
    let path = dir.join("ssh");
    std::fs::write(&path, format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}/argv'\n{body}\n", dir.display())).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_string_lossy().into_owned()
}

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0); a reaped or killed-and-reaped process does not. The
    // background child below is reparented to init, which reaps it.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test]
async fn the_probe_passes_the_arguments_and_caps_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let program = fake_ssh(dir.path(), "echo banner; head -c 200000 /dev/zero | tr '\\0' x; echo; echo oops >&2");
    let plan = a_plan("10.0.0.9");
    let ProbeResult::Ok(out) = run_probe_with(&program, &plan).await else { panic!("exit 0 is ok") };
    assert_eq!(out.len(), MAX_PROBE_OUTPUT_BYTES);
    assert!(out.starts_with(b"banner\nxxx"));
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    assert_eq!(argv.lines().collect::<Vec<_>>(), plan.ssh_args());

    let program = fake_ssh(dir.path(), "echo 'Permission denied (publickey).' >&2; exit 255");
    let r = run_probe_with(&program, &plan).await;
    assert_eq!(r, ProbeResult::Failed { code: Some(255), stderr: "Permission denied (publickey).\n".into() });
    let r = run_probe_with(&dir.path().join("missing").to_string_lossy(), &plan).await;
    assert!(matches!(r, ProbeResult::SpawnError(_)), "{r:?}");
}

#[tokio::test]
async fn a_probe_that_runs_too_long_is_killed_with_its_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // ssh, and a helper it left running (as a ProxyCommand would), both outlive the budget.
    let program =
        fake_ssh(dir.path(), &format!("sleep 60 & echo $! > '{p}'; echo $$ >> '{p}'; sleep 60", p = pids.display()));
    let mut plan = a_plan("10.0.0.9");
    plan.timeout = Duration::from_millis(300);
    let started = Instant::now();
    assert_eq!(run_probe_with(&program, &plan).await, ProbeResult::Timeout);
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let pids: Vec<i32> = std::fs::read_to_string(&pids).unwrap().lines().map(|l| l.trim().parse().unwrap()).collect();
    assert_eq!(pids.len(), 2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for p in pids {
        assert!(!alive(p), "process {p} of the probe's group survived the timeout");
    }
}

#[tokio::test]
async fn a_finished_probe_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    // The helper closes its copy of the pipes, so the probe is judged as soon as ssh exits.
    let program =
        fake_ssh(dir.path(), &format!("sleep 60 >/dev/null 2>&1 & echo $! > '{}'; echo '{{}}'", pids.display()));
    assert!(matches!(run_probe_with(&program, &a_plan("10.0.0.9")).await, ProbeResult::Ok(_)));
    let pid: i32 = std::fs::read_to_string(&pids).unwrap().trim().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!alive(pid), "a process ssh left in its group survived");
}
