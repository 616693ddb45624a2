//! The simulated node's socket: a TCP stream behind a gate that keeps tungstenite from
//! buffering past the handshake, so each of thousands of connections can drop its large
//! hello-ok buffer once connected (see [`Gate`]).

use std::io;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

pub(crate) type Ws = WebSocketStream<Gate>;

/// The node's TCP stream, with a gate that never hands tungstenite bytes past the end of the
/// HTTP upgrade response or of the current WebSocket frame while the handshake runs.
///
/// Why: hello-ok can be large (our gateway puts one presence entry per connection in it, so it
/// reaches ~2 MB at 10,000 nodes), and tungstenite's read buffer keeps the capacity of the
/// largest frame it has read for the life of the connection. With the gate, no bytes beyond
/// hello-ok are buffered inside tungstenite when the handshake ends, so the stream can move to
/// a fresh `WebSocketStream` (4 KiB buffer) and the big one is freed.
pub(crate) struct Gate {
    /// `None` only in the husk left behind when the stream moves to a fresh WebSocket.
    pub(crate) tcp: Option<TcpStream>,
    pub(crate) pending: Vec<u8>,
    pub(crate) pos: usize,
    pub(crate) phase: Phase,
}

pub(crate) enum Phase {
    /// In the HTTP response; how many bytes of the final CRLFCRLF we have seen.
    Http(u8),
    /// In WebSocket frames: header bytes so far, then payload bytes left.
    Frames { hdr: [u8; 14], have: usize, left: u64 },
    /// Handshake over: pass everything through.
    Open,
}

impl Phase {
    /// How many of `bytes` (at most `max`) may be handed out without crossing a boundary.
    fn allow(&mut self, bytes: &[u8], max: usize) -> usize {
        let limit = bytes.len().min(max);
        let mut i = 0;
        while i < limit {
            match self {
                Phase::Open => return limit,
                Phase::Http(m) => {
                    let b = bytes[i];
                    i += 1;
                    *m = match (*m, b) {
                        (0, b'\r') | (2, b'\r') | (1, b'\n') | (3, b'\n') => *m + 1,
                        (_, b'\r') => 1,
                        _ => 0,
                    };
                    if *m == 4 {
                        *self = Phase::Frames { hdr: [0; 14], have: 0, left: 0 };
                        return i;
                    }
                }
                Phase::Frames { hdr, have, left } => {
                    if *left > 0 {
                        let k = ((limit - i) as u64).min(*left) as usize;
                        i += k;
                        *left -= k as u64;
                        if *left == 0 {
                            *have = 0;
                            return i;
                        }
                        continue;
                    }
                    hdr[*have] = bytes[i];
                    *have += 1;
                    i += 1;
                    if *have < 2 {
                        continue;
                    }
                    let len7 = hdr[1] & 0x7f;
                    let ext = match len7 {
                        126 => 2,
                        127 => 8,
                        _ => 0,
                    };
                    let need = 2 + ext + if hdr[1] & 0x80 != 0 { 4 } else { 0 };
                    if *have == need {
                        let len = match len7 {
                            126 => u16::from_be_bytes([hdr[2], hdr[3]]) as u64,
                            127 => u64::from_be_bytes(hdr[2..10].try_into().expect("8 bytes")),
                            n => n as u64,
                        };
                        if len == 0 {
                            *have = 0;
                            return i;
                        }
                        *left = len;
                    }
                }
            }
        }
        i
    }
}

impl Gate {
    fn tcp(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        self.tcp.as_mut().map(Pin::new).ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "stream moved"))
    }
}

impl AsyncRead for Gate {
    fn poll_read(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pos >= this.pending.len() {
            if matches!(this.phase, Phase::Open) {
                if this.pending.capacity() > 0 {
                    this.pending = Vec::new();
                    this.pos = 0;
                }
                return this.tcp()?.poll_read(cx, buf);
            }
            this.pending.resize(4096, 0);
            this.pos = 0;
            let mut rb = ReadBuf::new(&mut this.pending);
            let tcp = match this.tcp.as_mut() {
                Some(t) => Pin::new(t),
                None => return Poll::Ready(Err(io::Error::new(io::ErrorKind::NotConnected, "stream moved"))),
            };
            let r = tcp.poll_read(cx, &mut rb);
            let n = rb.filled().len();
            this.pending.truncate(n);
            match r {
                Poll::Ready(Ok(())) if n > 0 => {}
                other => return other, // EOF, error or pending
            }
        }
        let n = this.phase.allow(&this.pending[this.pos..], buf.remaining());
        buf.put_slice(&this.pending[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for Gate {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().tcp()?.poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.get_mut().tcp()?.poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        self.get_mut().tcp()?.poll_shutdown(cx)
    }
}

pub(crate) fn ws_config() -> WebSocketConfig {
    // Small buffers: the read buffer is allocated eagerly per connection (default 128 KiB).
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_message_size(Some(32 << 20))
}
