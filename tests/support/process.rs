//! Running the real `sluice` binary on loopback ports for end-to-end tests.

use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound once, released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local address").port()
}

pub fn sluice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// `sluice check` on the given paths.
pub fn check(paths: &[&Path], json: bool) -> Output {
    let mut cmd = Command::new(sluice_bin());
    cmd.arg("check");
    for p in paths {
        cmd.arg("--config").arg(p);
    }
    if json {
        cmd.args(["-o", "json"]);
    }
    cmd.output().expect("run sluice check")
}

/// A `sluice run` process, killed on drop.
pub struct Gateway {
    pub child: Child,
    pub admin: SocketAddr,
}

impl Gateway {
    /// Starts `sluice run` and waits until its admin plane reports ready.
    pub fn start(config: &Path) -> Gateway {
        Gateway::start_with(config, &[])
    }

    /// [`Gateway::start`] with more arguments for `sluice run`.
    pub fn start_with(config: &Path, args: &[&str]) -> Gateway {
        Gateway::start_with_env(config, args, &[])
    }

    /// [`Gateway::start_with`] with variables added to the process's environment.
    pub fn start_with_env(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let config = config.to_str().expect("a UTF-8 path");
        Gateway::launch(&[args, &["--config", config]].concat(), env)
    }

    /// `sluice run --kubernetes` against the API server `kubeconfig` names, with `args`; ready
    /// once every watch has listed and the first snapshot is served.
    pub fn start_kubernetes(kubeconfig: &Path, args: &[&str]) -> Gateway {
        let kubeconfig = kubeconfig.to_str().expect("a UTF-8 path");
        Gateway::launch(&[args, &["--kubernetes"]].concat(), &[("KUBECONFIG", kubeconfig)])
    }

    fn launch(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("admin address");
        let child = Command::new(sluice_bin())
            .args(["run", "--bind", "127.0.0.1", "--admin", &admin.to_string()])
            .args(args)
            .envs(env.iter().copied())
            .env("SLUICE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice run");
        let mut gw = Gateway { child, admin };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = gw.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = gw.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("sluice exited early with {status}: {err}");
            }
            if http_get(admin, "/readyz").is_some_and(|(code, _)| code == 200) {
                return gw;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sluice did not become ready on {admin}");
    }

    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(self.admin, path).unwrap_or_else(|| panic!("admin {path} did not answer"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP/1.1 GET (connection closed after the response).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    http_request(addr, "GET", path, "localhost", &[])
}

pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split(' ').nth(1)?.parse().ok()?;
    Some((code, buf))
}
