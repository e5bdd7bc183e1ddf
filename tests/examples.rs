//! Every file in examples/ loads and is healthy, and the quickstart answers requests with no
//! outside service.

mod support;

use std::path::PathBuf;

use support::process;

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "examples/ holds no YAML file");
    files
}

#[test]
fn every_example_checks_clean() {
    for file in examples() {
        let out = process::check(&[&file], false);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{} is not clean:\n{stdout}{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("OK:"), "{}: {stdout}", file.display());
    }
}

/// Runs an example on free ports (its listener port `port` and admin port 15000 replaced):
/// the gateway, its tempdir, the listener's and the admin plane's addresses.
fn run_example(name: &str, port: u16) -> (process::Gateway, tempfile::TempDir, std::net::SocketAddr, u16) {
    let text = std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples").join(name))
        .expect("read the example");
    let dir = tempfile::tempdir().expect("tempdir");
    let (admin_port, free) = (process::free_port(), process::free_port());
    let text = text
        .replace(&format!("port: {port}"), &format!("port: {free}"))
        .replace("port: 15000", &format!("port: {admin_port}"));
    let file = dir.path().join(name);
    std::fs::write(&file, text).expect("write config");
    let child = std::process::Command::new(process::sluice_bin())
        .args(["run", "--bind", "127.0.0.1", "--admin", &format!("127.0.0.1:{admin_port}"), "--config"])
        .arg(&file)
        .env("SLUICE_LOG", "warn")
        .spawn()
        .expect("start sluice");
    let gateway = process::Gateway { child, admin: format!("127.0.0.1:{admin_port}").parse().expect("addr") };
    (gateway, dir, format!("127.0.0.1:{free}").parse().expect("addr"), admin_port)
}

#[test]
fn quickstart_answers_without_outside_services() {
    // The example uses fixed ports (8080, admin 15000); run it on free ones instead.
    let (_guard, _dir, addr, admin_port) = run_example("quickstart.yaml", 8080);
    let mut answer = None;
    for _ in 0..100 {
        answer = process::http_get(addr, "/sluice/healthz");
        if answer.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, body) = answer.expect("the gateway answered");
    assert_eq!(code, 200, "{body}");
    assert!(body.to_ascii_lowercase().contains("x-served-by: sluice"), "{body}");
    assert!(body.ends_with("ok\n"), "{body}");
    let (code, body) = process::http_get(addr, "/docs").expect("redirect answered");
    assert_eq!(code, 302, "{body}");
    assert!(body.contains("location: https://sluice.dev/docs"), "{body}");
    // Nothing else of the admin plane is published: these fall to the redirect.
    for path in ["/sluice/config_dump", "/sluice/status", "/sluice/healthz/../config_dump", "/sluice/metrics"] {
        let (code, body) = process::http_get(addr, path).expect("answered");
        assert_eq!(code, 302, "{path} reached the admin plane: {body}");
    }
    let admin = format!("127.0.0.1:{admin_port}").parse().expect("admin addr");
    let (_, metrics) = process::http_get(admin, "/metrics").expect("metrics");
    for line in [
        r#"sluice_requests_total{route="default/admin-passthrough/admin",backend="default/sluice-admin:80",code="200"} 1"#,
        r#"sluice_requests_total{route="default/admin-passthrough/everything-else",backend="-",code="302"} 5"#,
        r#"sluice_config_reloads_total{result="success"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

#[test]
fn virtual_keys_example_admits_its_keys_only() {
    let (_guard, _dir, addr, _) = run_example("virtual-keys.yaml", 8082);
    let get = |headers: &[(&str, &str)]| process::http_request(addr, "GET", "/v1/models", "localhost", headers);
    let mut answer = None;
    for _ in 0..100 {
        answer = get(&[]);
        if answer.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, body) = answer.expect("the gateway answered");
    assert_eq!(code, 401, "no key: {body}");
    let (code, body) = get(&[("authorization", "Bearer sk-demo-team")]).expect("answered");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"mock-1\"") && body.contains("\"fast\""), "{body}");
    let (code, body) = get(&[("x-api-key", "sk-demo-intern")]).expect("answered");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"fast\"") && !body.contains("\"mock-1\""), "the intern's models only: {body}");
    let (code, _) = get(&[("authorization", "Bearer sk-demo-tea")]).expect("answered");
    assert_eq!(code, 401, "a prefix of a key is not a key");
}
