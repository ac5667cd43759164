//! The Kubernetes channel protocol over WebSocket, as kubectl speaks it for exec and attach.
//!
//! Every binary message starts with a channel byte: 0 stdin, 1 stdout, 2 stderr, 3 error (the
//! outcome, sent once at the end), 4 resize (`{"Width":…,"Height":…}`). `v5.channel.k8s.io`
//! adds message `[255, channel]`: the client closed that stream (stdin EOF). From
//! `v4.channel.k8s.io` on, the error channel carries a JSON `Status`; before, only a failure's
//! message. The session ends with a close frame once the output is sent and the outcome known.

use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::{ExecProcess, StreamError};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
/// v5: `[CLOSE, channel]` half-closes a client stream.
const CLOSE: u8 = 255;

/// How long the peer gets to take the close frame before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V5,
    V4,
    /// `channel.k8s.io`, also what a client naming no protocol gets.
    V1,
}

impl Protocol {
    pub const NAMES: [&'static str; 3] = ["v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"];

    /// The first protocol the client offers that is served (in the client's order, as
    /// upstream's wsstream picks), with the name to answer; none offered means `V1` unnamed.
    pub fn negotiate(offered: Option<&str>) -> Result<(Protocol, Option<&'static str>), String> {
        let offered: Vec<&str> = offered.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        if offered.is_empty() {
            return Ok((Protocol::V1, None));
        }
        for p in &offered {
            let found = match *p {
                "v5.channel.k8s.io" => Protocol::V5,
                "v4.channel.k8s.io" => Protocol::V4,
                "channel.k8s.io" => Protocol::V1,
                _ => continue,
            };
            let name = Self::NAMES.iter().copied().find(|n| n == p);
            return Ok((found, name));
        }
        Err(format!(
            "requested protocol(s) are not supported: [{}]; supports [{}]",
            offered.join(" "),
            Self::NAMES.join(" ")
        ))
    }
}

/// Which streams the client asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// How the end is reported on the error channel.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An exec: its exit code, failing when non-zero.
    Exec { command: Vec<String> },
    /// An attach: success once the output ends.
    Attach,
}

/// Run one session until the process's output ends and its outcome is sent, or the client
/// leaves (then the process is left to the pod manager: dropping its streams closes them).
pub async fn run<S>(ws: WebSocketStream<S>, proto: Protocol, wanted: Wanted, process: ExecProcess, outcome: Outcome)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, incoming) = ws.split();
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(16);
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            if sink.send(m).await.is_err() {
                return;
            }
        }
        // A normal closure (1000): client-go takes anything else as an error on every stream.
        let close = Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }));
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            let _ = sink.send(close).await;
            let _ = sink.close().await;
        })
        .await;
    });

    // The first (empty) message on the lowest writable channel tells the client the streams
    // are set up, as kubelet does.
    let first = if wanted.stdout {
        STDOUT
    } else if wanted.stderr {
        STDERR
    } else {
        ERROR
    };
    let _ = out_tx.send(frame(first, &[])).await;

    let ExecProcess { stdin, stdout, stderr, resize, exit } = process;
    let input = pump_input(incoming, proto, wanted.stdin.then_some(stdin).flatten(), resize);
    let output = async {
        tokio::join!(
            pump_output(stdout, STDOUT, wanted.stdout, &out_tx),
            pump_output_opt(stderr, wanted.stderr, &out_tx)
        );
        let status = match outcome {
            Outcome::Attach => Ok(()),
            Outcome::Exec { command } => match exit.await {
                Ok(0) => Ok(()),
                Ok(code) => Err(non_zero_exit(&command, code)),
                Err(_) => Err(internal_error("the process's exit status was lost")),
            },
        };
        if let Some(m) = status_message(proto, status) {
            let _ = out_tx.send(frame(ERROR, &m)).await;
        }
    };
    tokio::select! {
        _ = output => {}
        _ = input => {
            tracing::debug!("exec client left before the process ended");
        }
    }
    drop(out_tx);
    let _ = writer.await;
}

/// End a session whose process could not start: the error on the error channel, then close.
pub async fn refuse<S>(mut ws: WebSocketStream<S>, proto: Protocol, error: &StreamError)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (code, reason) = match error {
        StreamError::NotFound(_) => (404, "NotFound"),
        StreamError::BadRequest(_) => (400, "BadRequest"),
        StreamError::Internal(_) => (500, "InternalError"),
    };
    let status =
        json!({"metadata": {}, "status": "Failure", "message": error.to_string(), "reason": reason, "code": code});
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        if let Some(m) = status_message(proto, Err(status)) {
            let _ = ws.send(frame(ERROR, &m)).await;
        }
        let _ = ws.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await;
        let _ = ws.close(None).await;
    })
    .await;
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

async fn pump_output(
    mut from: Box<dyn AsyncRead + Send + Unpin>,
    channel: u8,
    wanted: bool,
    out: &mpsc::Sender<Message>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            // Output nobody asked for is still read, so the process never blocks on it.
            Ok(_) if !wanted => {}
            Ok(n) => {
                if out.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn pump_output_opt(from: Option<Box<dyn AsyncRead + Send + Unpin>>, wanted: bool, out: &mpsc::Sender<Message>) {
    if let Some(from) = from {
        pump_output(from, STDERR, wanted, out).await;
    }
}

/// Read the client's messages until it leaves: stdin data, resizes, v5 stream closes.
async fn pump_input<R>(
    mut incoming: R,
    proto: Protocol,
    stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    resize: Option<mpsc::Sender<(u16, u16)>>,
) where
    R: futures::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    // Stdin is written by its own task so a process that does not read cannot stall resizes.
    let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(16);
    let mut stdin_tx = Some(stdin_tx);
    let stdin_task = stdin.map(|w| tokio::spawn(write_stdin(w, stdin_rx)));
    let mut sizes = Vec::new();
    while let Some(Ok(msg)) = incoming.next().await {
        let data = match msg {
            Message::Binary(b) => b,
            Message::Close(_) => break,
            _ => continue,
        };
        let Some((&channel, rest)) = data.split_first() else { continue };
        match channel {
            STDIN => {
                if let Some(tx) = &stdin_tx
                    && tx.send(Bytes::copy_from_slice(rest)).await.is_err()
                {
                    stdin_tx = None;
                }
            }
            RESIZE => {
                sizes.extend_from_slice(rest);
                for (w, h) in take_sizes(&mut sizes) {
                    if let Some(r) = &resize {
                        let _ = r.send((w, h)).await;
                    }
                }
            }
            CLOSE if proto == Protocol::V5 && rest == [STDIN] => stdin_tx = None,
            _ => {}
        }
    }
    drop(stdin_tx);
    if let Some(t) = stdin_task {
        // The client left: stdin is closed once what it sent is written (or the process ends).
        let _ = t.await;
    }
}

async fn write_stdin(mut to: Box<dyn AsyncWrite + Send + Unpin>, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(b) = rx.recv().await {
        if to.write_all(&b).await.is_err() || to.flush().await.is_err() {
            return;
        }
    }
    let _ = to.shutdown().await;
}

/// The terminal sizes complete in `buf` (JSON objects one after another, possibly split over
/// messages); what is left is an unfinished one. Malformed input is dropped.
fn take_sizes(buf: &mut Vec<u8>) -> Vec<(u16, u16)> {
    #[derive(serde::Deserialize)]
    struct Size {
        #[serde(rename = "Width")]
        width: u16,
        #[serde(rename = "Height")]
        height: u16,
    }
    let mut sizes = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    let mut used = 0;
    loop {
        match stream.next() {
            Some(Ok(s)) => {
                sizes.push((s.width, s.height));
                used = stream.byte_offset();
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => {
                used = buf.len();
                break;
            }
            None => {
                used = buf.len();
                break;
            }
        }
    }
    buf.drain(..used);
    sizes
}

/// What the error channel says: v4+ a JSON Status (also on success), v1 a failure's message.
fn status_message(proto: Protocol, status: Result<(), Value>) -> Option<Vec<u8>> {
    match (proto, status) {
        (Protocol::V1, Ok(())) => None,
        (Protocol::V1, Err(s)) => Some(s["message"].as_str().unwrap_or("").as_bytes().to_vec()),
        (_, Ok(())) => Some(br#"{"metadata":{},"status":"Success"}"#.to_vec()),
        (_, Err(s)) => serde_json::to_vec(&s).ok(),
    }
}

/// kubelet's Status for a command that exited with `code` (kubectl exits with it too).
fn non_zero_exit(command: &[String], code: i32) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

fn internal_error(why: &str) -> Value {
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!("Internal error occurred: error executing command in container: {why}"),
        "reason": "InternalError",
        "details": {"causes": [{"message": format!("error executing command in container: {why}")}]},
        "code": 500,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_in_the_clients_order() {
        let n = |h: Option<&str>| Protocol::negotiate(h);
        assert_eq!(
            n(Some("v5.channel.k8s.io, v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io")),
            Ok((Protocol::V5, Some("v5.channel.k8s.io")))
        );
        assert_eq!(n(Some("v3.channel.k8s.io,v4.channel.k8s.io")), Ok((Protocol::V4, Some("v4.channel.k8s.io"))));
        assert_eq!(n(None), Ok((Protocol::V1, None)));
        assert!(n(Some("SPDY/3.1")).unwrap_err().contains("not supported: [SPDY/3.1]"));
    }

    #[test]
    fn resizes_may_arrive_split_and_back_to_back() {
        let mut buf = br#"{"Width":80,"Height":24}{"Width":100,"#.to_vec();
        assert_eq!(take_sizes(&mut buf), [(80, 24)]);
        buf.extend_from_slice(br#""Height":40}"#);
        assert_eq!(take_sizes(&mut buf), [(100, 40)]);
        assert!(buf.is_empty());
        let mut junk = b"nonsense".to_vec();
        assert!(take_sizes(&mut junk).is_empty() && junk.is_empty());
    }

    #[test]
    fn exit_status_is_reported_as_kubelet_does() {
        let cmd = vec!["sh".to_string(), "-c".to_string(), "exit 3".to_string()];
        let v4 = status_message(Protocol::V4, Err(non_zero_exit(&cmd, 3))).unwrap();
        assert_eq!(
            String::from_utf8(v4).unwrap(),
            r#"{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}"#
        );
        assert_eq!(status_message(Protocol::V5, Ok(())).unwrap(), br#"{"metadata":{},"status":"Success"}"#);
        assert_eq!(status_message(Protocol::V1, Ok(())), None);
        let v1 = status_message(Protocol::V1, Err(non_zero_exit(&cmd, 3))).unwrap();
        assert!(String::from_utf8(v1).unwrap().starts_with("command terminated with non-zero exit code"));
    }
}
