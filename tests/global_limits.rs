//! Global rate limits through a real `redis-server` (Debian's package; `.ci/run` installs it),
//! started by this test on a loopback port: two `sluice run` processes share one limit and
//! together admit no more than it allows; with Redis stopped they follow the limit's failure
//! mode (here: each falls back to its own count) and keep serving. The same against a Redis
//! Cluster of three masters (`redis-cli --cluster create`), with limits keyed so that their
//! counters live on different nodes.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::process;

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis(port: u16) -> Redis {
    redis_with(port, &[])
}

fn redis_with(port: u16, extra: &[&str]) -> Redis {
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("redis-server is needed ({e}): apt-get install redis-server (.ci/run does)"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Redis(child)
}

fn config(port: u16) -> String {
    support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("")
        + &support::yaml::route_policy(
            "shared",
            "  rateLimits:\n    - {name: shared, requests: 10, per: hour, global: true, onRedisFailure: local}\n",
        )
}

/// A chat completion for `model` POSTed on a connection of its own, with `headers`: its status
/// (0 when the gateway cannot be reached).
fn chat_with(addr: SocketAddr, model: &str, headers: &[(&str, &str)]) -> u16 {
    use std::io::{Read, Write};
    let body = format!(r#"{{"model": "{model}", "messages": [{{"role": "user", "content": "hi"}}]}}"#);
    let head: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return 0 };
    let _ = s.write_all(
        format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n{head}content-type: application/json\r\n\
             content-length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn chat(addr: SocketAddr) -> u16 {
    chat_with(addr, "mock-1", &[])
}

#[test]
fn two_gateways_share_one_limit_through_redis() {
    let redis_port = process::free_port();
    let server = redis(redis_port);
    let url = format!("redis://127.0.0.1:{redis_port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut gateways = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for i in 0..2 {
        let port = process::free_port();
        let file = dir.path().join(format!("gw{i}.yaml"));
        std::fs::write(&file, config(port)).expect("write config");
        let state = dir.path().join(format!("state{i}.redb")).display().to_string();
        gateways.push(process::Gateway::start_with(&file, &["--redis-url", &url, "--state-file", &state]));
        addrs.push(format!("127.0.0.1:{port}").parse().expect("addr"));
    }
    let mut admitted = [0u32; 2];
    for n in 0..30 {
        let g = n % 2;
        match chat(addrs[g]) {
            200 => admitted[g] += 1,
            429 => {}
            other => panic!("request {n} to gateway {g}: status {other}"),
        }
    }
    eprintln!("two gateways, one global limit of 10: admitted {admitted:?} (total {})", admitted[0] + admitted[1]);
    assert_eq!(admitted[0] + admitted[1], 10, "the two together admit exactly the limit");
    assert!(admitted[0] > 0 && admitted[1] > 0, "both served: {admitted:?}");

    // Redis goes away: each gateway falls back to its own count, and keeps serving.
    drop(server);
    let served = (0..5).filter(|_| chat(addrs[0]) == 200).count();
    assert!(served > 0, "with Redis stopped, the gateway still serves (failure mode: local)");
    drop(gateways);
}

/// Three cluster-enabled `redis-server`s made one cluster by `redis-cli --cluster create`; their
/// ports.
fn redis_cluster(dir: &std::path::Path) -> (Vec<Redis>, Vec<u16>) {
    let ports: Vec<u16> = (0..3).map(|_| process::free_port()).collect();
    let nodes: Vec<Redis> = ports
        .iter()
        .map(|p| {
            let conf = dir.join(format!("nodes-{p}.conf")).display().to_string();
            redis_with(
                *p,
                &["--cluster-enabled", "yes", "--cluster-config-file", &conf, "--dir", &dir.display().to_string()],
            )
        })
        .collect();
    let addrs: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap_or_else(|e| panic!("redis-cli is needed ({e}): apt-get install redis-server (.ci/run does)"));
    assert!(out.status.success(), "cluster create: {}", String::from_utf8_lossy(&out.stdout));
    let deadline = Instant::now() + Duration::from_secs(20);
    for p in &ports {
        loop {
            let info =
                Command::new("redis-cli").args(["-p", &p.to_string(), "cluster", "info"]).output().expect("redis-cli");
            if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "the cluster did not become ready");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    (nodes, ports)
}

#[test]
fn two_gateways_share_limits_through_a_redis_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_nodes, ports) = redis_cluster(dir.path());
    // Two seeds of three: the client finds the third itself.
    let seeds = format!("redis://127.0.0.1:{},redis://127.0.0.1:{}", ports[0], ports[1]);
    let teams = ["red", "green", "blue", "amber", "violet", "teal"];
    let mut gateways = Vec::new();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for i in 0..2 {
        let port = process::free_port();
        let file = dir.path().join(format!("gw{i}.yaml"));
        let yaml = config(port).replace(
            "{name: shared, requests: 10, per: hour, global: true, onRedisFailure: local}",
            "{name: per-team, requests: 4, per: hour, key: ['header:x-team'], global: true, onRedisFailure: closed}",
        );
        assert!(yaml.contains("per-team"));
        std::fs::write(&file, yaml).expect("write config");
        gateways.push(process::Gateway::start_with(&file, &["--redis-url", &seeds, "--redis-cluster"]));
        addrs.push(format!("127.0.0.1:{port}").parse().expect("addr"));
    }
    let mut admitted = std::collections::BTreeMap::new();
    for n in 0..60 {
        let team = teams[n % teams.len()];
        match chat_with(addrs[n / teams.len() % 2], "mock-1", &[("x-team", team)]) {
            200 => *admitted.entry(team).or_insert(0) += 1,
            429 => {}
            other => panic!("request {n} for team {team}: status {other} (closed failure mode: Redis not reached?)"),
        }
    }
    eprintln!("two gateways, a Redis Cluster, 4 per team: admitted {admitted:?}");
    for team in teams {
        assert_eq!(admitted.get(team), Some(&4), "team {team}: {admitted:?}");
    }
    // The teams' counters are spread over the cluster's nodes.
    let holding: usize = ports
        .iter()
        .filter(|p| {
            let keys =
                Command::new("redis-cli").args(["-p", &p.to_string(), "--scan", "--pattern", "sluice:rl:*"]).output();
            keys.is_ok_and(|k| !k.stdout.is_empty())
        })
        .count();
    assert!(holding >= 2, "the counters live on {holding} of 3 nodes");
    drop(gateways);
}

fn budget_config(port: u16, fake: u16) -> String {
    support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: gpt}"])
        + &support::yaml::openai_backend("gpt", fake)
        + &support::yaml::route_policy("spend", "  budgets:\n    - {name: everyone, usd: 0.05, per: day}\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_share_one_budget_through_redis() {
    use support::fake_llm::openai::{FakeOpenAi, Reply, Script, Usage};
    const MODEL: &str = "gpt-6-luna";
    let fake =
        FakeOpenAi::start(Script::reply(Reply::text("ok").usage(Usage::new(10_000, 5_000))).api_key("sk-upstream"))
            .await;
    let price = sluice::catalog::catalog().provider("openai").and_then(|p| p.pricing(MODEL)).expect("catalog price");
    let per_request = (10_000.0 * price.input_per_m_tok + 5_000.0 * price.output_per_m_tok) / 1e6;
    let fake_port = fake.port();
    let (answered, spent) = tokio::task::spawn_blocking(move || {
        let redis_port = process::free_port();
        let _server = redis(redis_port);
        let url = format!("redis://127.0.0.1:{redis_port}");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut gateways = Vec::new();
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for i in 0..2 {
            let port = process::free_port();
            let file = dir.path().join(format!("gw{i}.yaml"));
            std::fs::write(&file, budget_config(port, fake_port)).expect("write config");
            gateways.push(process::Gateway::start_with(&file, &["--redis-url", &url]));
            addrs.push(format!("127.0.0.1:{port}").parse().expect("addr"));
        }
        // Alternate between the two, slower than they sync with Redis (every 250 ms).
        let mut answered = 0u32;
        for n in 0..40 {
            match chat_with(addrs[n % 2], MODEL, &[]) {
                200 => answered += 1,
                403 => break,
                other => panic!("request {n}: status {other}"),
            }
            std::thread::sleep(Duration::from_millis(400));
        }
        std::thread::sleep(Duration::from_millis(600));
        let (_, budgets) = gateways[1].admin_get("/budgets");
        let body = budgets.split("\r\n\r\n").nth(1).unwrap_or_default().to_string();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {budgets}"));
        let spent = v["budgets"][0]["spentUsd"].as_f64().unwrap_or_else(|| panic!("{v}"));
        (answered, spent)
    })
    .await
    .expect("join");
    let expected = (0.05 / per_request).ceil() as u32;
    eprintln!("two gateways, one shared budget of $0.05: {answered} answered (expected {expected}), ${spent:.6} spent");
    assert_eq!(answered, expected, "together they stop at the shared limit");
    assert!((spent - f64::from(answered) * per_request).abs() < 1e-9, "each sees the other's spend: {spent}");
}

/// A global token limit of more than a million tokens a second (cells shorter than Redis's
/// microsecond) still counts: a reservation of a billion tokens shows in what remains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_global_token_limit_faster_than_redis_clock_counts() {
    let redis_port = process::free_port();
    let _server = redis(redis_port);
    let url = format!("redis://127.0.0.1:{redis_port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let port = process::free_port();
    let file = dir.path().join("gw.yaml");
    let yaml = support::yaml::gateway_route(port, "llm", &["{group: sluice.dev, kind: AIBackend, name: mock}"])
        + &support::yaml::mock_backend("")
        + &support::yaml::route_policy(
            "fast",
            "  rateLimits:\n    - {name: fast, tokens: 6000000000, per: hour, global: true, onRedisFailure: closed}\n",
        );
    std::fs::write(&file, yaml).expect("write config");
    let _gw = process::Gateway::start_with(&file, &["--redis-url", &url]);
    let body = r#"{"model": "mock-1", "max_tokens": 1000000000, "messages": [{"role": "user", "content": "hi"}]}"#;
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let (status, head, answer) = support::gateway::request(addr, "POST", "/v1/chat/completions", &[], body).await;
    assert_eq!(status, 200, "{head}\n{answer}");
    let remaining: u64 = support::gateway::header(&head, "x-ratelimit-remaining-tokens")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no remaining-tokens header: {head}"));
    assert!(
        (4_999_000_000..=5_000_000_000).contains(&remaining),
        "6e9 per hour less a reservation of 1e9 and the prompt: {remaining}"
    );
}
