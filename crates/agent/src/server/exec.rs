//! `GET|POST /exec/{namespace}/{pod}/{container}?command=…` and `/attach/…`: check the request
//! (a malformed one gets a plain HTTP error), start the process, upgrade to WebSocket and hand
//! the connection to [`super::websocket`]. A process that cannot start is reported in the session.

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::PodStreams;
use super::body::{self, Body};
use super::query::Query;
use super::websocket::{self, Outcome, Protocol, Wanted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Exec,
    Attach,
}

/// What the query asks for, as kubelet reads `PodExecOptions` / `PodAttachOptions`.
#[derive(Debug)]
struct Options {
    command: Vec<String>,
    wanted: Wanted,
    tty: bool,
}

fn options(q: &Query, kind: Kind) -> Result<Options, String> {
    let tty = q.flag("tty")?;
    let wanted = Wanted {
        stdin: q.flag("stdin")?,
        stdout: q.flag("stdout")?,
        // A terminal has one output stream.
        stderr: q.flag("stderr")? && !tty,
    };
    if !wanted.stdin && !wanted.stdout && !wanted.stderr {
        return Err("you must specify at least 1 of stdin, stdout, stderr".into());
    }
    let command = q.all("command");
    if kind == Kind::Exec && command.is_empty() {
        return Err("you must specify at least one command for the container".into());
    }
    Ok(Options { command, wanted, tty })
}

/// Whether the request asks to become a WebSocket.
fn is_websocket(headers: &HeaderMap) -> bool {
    let has = |name, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

pub async fn exec_or_attach<B>(
    streams: &dyn PodStreams,
    kind: Kind,
    target: (&str, &str, &str),
    mut req: Request<B>,
) -> Response<Body> {
    let bad = |m: String| body::text(StatusCode::BAD_REQUEST, m);
    let q = Query::parse(req.uri().query());
    let opts = match options(&q, kind) {
        Ok(o) => o,
        Err(m) => return bad(m),
    };
    let headers = req.headers();
    if !is_websocket(headers) {
        return bad("this endpoint streams over WebSocket only (v5.channel.k8s.io or v4.channel.k8s.io)".into());
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return bad("missing Sec-WebSocket-Key".into());
    };
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v != "13") {
        let mut r = bad("unsupported WebSocket version: only 13 is".into());
        *r.status_mut() = StatusCode::UPGRADE_REQUIRED;
        r.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return r;
    }
    let offered =
        headers.get_all(header::SEC_WEBSOCKET_PROTOCOL).iter().filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let (proto, proto_name) = match Protocol::negotiate((!offered.is_empty()).then(|| offered.join(",")).as_deref()) {
        Ok(p) => p,
        Err(m) => return bad(m),
    };
    let accept = derive_accept_key(key.as_bytes());

    let (namespace, pod, container) = target;
    let started = match kind {
        Kind::Exec => streams.exec(namespace, pod, container, opts.command.clone(), opts.tty, opts.wanted.stdin).await,
        Kind::Attach => streams.attach(namespace, pod, container, opts.tty, opts.wanted.stdin).await,
    };
    let outcome = match kind {
        Kind::Exec => Outcome::Exec { command: opts.command },
        Kind::Attach => Outcome::Attach,
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
                match started {
                    Ok(process) => websocket::run(ws, proto, opts.wanted, process, outcome).await,
                    // Told on the error channel, as upstream's API server does: an HTTP error
                    // would only make kubectl retry with SPDY and show that refusal instead.
                    Err(e) => websocket::refuse(ws, proto, &e).await,
                }
            }
            Err(e) => tracing::debug!(error = %e, "exec connection was not upgraded"),
        }
    });

    let mut r = Response::new(Body::Full(None));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(name) = proto_name {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(name));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_as_kubelet() {
        let q = Query::parse(Some("command=sh&command=-c&command=ls&stdout=1&stderr=1&tty=1"));
        let o = options(&q, Kind::Exec).unwrap();
        assert_eq!(o.command, ["sh", "-c", "ls"]);
        assert!(o.tty && o.wanted.stdout && !o.wanted.stderr, "a terminal has no separate stderr");
        let none = Query::parse(Some("command=ls"));
        assert!(options(&none, Kind::Exec).unwrap_err().contains("at least 1 of stdin, stdout, stderr"));
        let no_command = Query::parse(Some("stdout=true"));
        assert!(options(&no_command, Kind::Exec).is_err());
        assert!(options(&no_command, Kind::Attach).is_ok());
    }
}
