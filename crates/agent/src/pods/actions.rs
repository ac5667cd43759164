//! The handlers probes and lifecycle hooks run: `exec` (a command in the container through
//! the runtime), `httpGet` and `tcpSocket`. Until pods have their own addresses (the networking
//! issue), network checks on a pod with its own network namespace connect to its loopback from
//! a short-lived thread that enters the namespace.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, ExecAction, HTTPGetAction, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::runtime::Runtime;

/// What to run, with named ports resolved.
#[derive(Debug, Clone)]
pub enum Action {
    Exec(Vec<String>),
    Http { host: Option<String>, port: u16, path: String, headers: Vec<(String, String)>, https: bool },
    Tcp { host: Option<String>, port: u16 },
}

fn port(p: &IntOrString, c: &Container) -> Result<u16, String> {
    match p {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => c
            .ports
            .iter()
            .flatten()
            .find(|cp| cp.name.as_deref() == Some(name))
            .and_then(|cp| u16::try_from(cp.container_port).ok())
            .ok_or_else(|| format!("couldn't find port {name:?} in the container")),
    }
}

impl Action {
    pub fn of(
        exec: Option<&ExecAction>,
        http: Option<&HTTPGetAction>,
        tcp: Option<&TCPSocketAction>,
        c: &Container,
    ) -> Result<Option<Action>, String> {
        if let Some(e) = exec {
            return Ok(Some(Action::Exec(e.command.clone().unwrap_or_default())));
        }
        if let Some(h) = http {
            let path = h.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
            let headers = h.http_headers.iter().flatten().map(|x| (x.name.clone(), x.value.clone())).collect();
            let https = h.scheme.as_deref() == Some("HTTPS");
            return Ok(Some(Action::Http {
                host: h.host.clone().filter(|s| !s.is_empty()),
                port: port(&h.port, c)?,
                path,
                headers,
                https,
            }));
        }
        if let Some(t) = tcp {
            return Ok(Some(Action::Tcp { host: t.host.clone().filter(|s| !s.is_empty()), port: port(&t.port, c)? }));
        }
        Ok(None)
    }
}

/// Where network actions connect: the pod's network namespace (None = the host's).
pub struct Target<'a> {
    pub runtime: &'a Runtime,
    pub container_id: &'a str,
    pub netns: Option<PathBuf>,
}

/// Run the action; Ok(output) on success, Err(why) on failure (including timeouts).
pub async fn run(action: &Action, target: &Target<'_>, timeout: Duration) -> Result<String, String> {
    match action {
        Action::Exec(cmd) => {
            let mut command = target.runtime.exec_command(target.container_id, cmd);
            command.stdin(std::process::Stdio::null()).kill_on_drop(true);
            let out = tokio::time::timeout(timeout, command.output())
                .await
                .map_err(|_| format!("command {cmd:?} timed out"))?
                .map_err(|e| format!("running {cmd:?}: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                Ok(text)
            } else {
                Err(format!("command {cmd:?} exited with {}: {}", out.status.code().unwrap_or(-1), text.trim()))
            }
        }
        Action::Http { https: true, .. } => Err("HTTPS probes are not supported by this agent yet".into()),
        Action::Http { host, port, path, headers, .. } => {
            let (host, port, path, headers) = (host.clone(), *port, path.clone(), headers.clone());
            in_netns(target.netns.clone(), timeout, move || http_get(host.as_deref(), port, &path, &headers, timeout))
                .await
        }
        Action::Tcp { host, port } => {
            let (host, port) = (host.clone(), *port);
            in_netns(target.netns.clone(), timeout, move || {
                connect(host.as_deref(), port, timeout).map(|_| String::new())
            })
            .await
        }
    }
}

/// Run a blocking network check on a fresh thread inside `netns` (a thread, never a pooled
/// one: entering a namespace changes the thread for good).
async fn in_netns<F>(netns: Option<PathBuf>, timeout: Duration, check: F) -> Result<String, String>
where
    F: FnOnce() -> Result<String, String> + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("probe".into())
        .stack_size(128 * 1024)
        .spawn(move || {
            let result = (|| {
                if let Some(ns) = netns {
                    let f = std::fs::File::open(&ns).map_err(|e| format!("{}: {e}", ns.display()))?;
                    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| format!("entering the pod's network: {e}"))?;
                }
                check()
            })();
            let _ = tx.send(result);
        })
        .map_err(|e| format!("starting a probe thread: {e}"))?;
    tokio::time::timeout(timeout + Duration::from_secs(1), rx)
        .await
        .map_err(|_| "timed out".to_string())?
        .map_err(|_| "the probe thread died".to_string())?
}

fn connect(host: Option<&str>, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let host = host.unwrap_or("127.0.0.1");
    let addr: SocketAddr = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {host}"))?;
    let s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("dial tcp {addr}: {e}"))?;
    s.set_read_timeout(Some(timeout)).ok();
    s.set_write_timeout(Some(timeout)).ok();
    Ok(s)
}

/// A GET whose status 200–399 is success, as kubelet's HTTP probes.
fn http_get(
    host: Option<&str>,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<String, String> {
    let mut s = connect(host, port, timeout)?;
    let host_header = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| format!("{}:{port}", host.unwrap_or("127.0.0.1")));
    let mut req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n"
    );
    for (k, v) in headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).map_err(|e| format!("writing the request: {e}"))?;
    let mut head = [0u8; 1024];
    let n = s.read(&mut head).map_err(|e| format!("reading the response: {e}"))?;
    let text = String::from_utf8_lossy(&head[..n]);
    let code: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "the response is not HTTP".to_string())?;
    if (200..400).contains(&code) {
        Ok(text.into_owned())
    } else {
        Err(format!("HTTP probe failed with statuscode: {code}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_get_reads_the_status() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let serve = |status: &'static str| {
            let l = l.try_clone().unwrap();
            std::thread::spawn(move || {
                let (mut c, _) = l.accept().unwrap();
                let mut buf = [0u8; 512];
                let _ = c.read(&mut buf);
                c.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes()).unwrap();
            })
        };
        let t = serve("200 OK");
        assert!(http_get(None, port, "/healthz", &[], Duration::from_secs(2)).is_ok());
        t.join().unwrap();
        let t = serve("503 Service Unavailable");
        assert_eq!(
            http_get(None, port, "/", &[], Duration::from_secs(2)).unwrap_err(),
            "HTTP probe failed with statuscode: 503"
        );
        t.join().unwrap();
        drop(l);
        assert!(connect(None, port, Duration::from_millis(500)).is_err());
    }
}
