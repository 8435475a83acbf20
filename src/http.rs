//! A tiny HTTP/1.1 responder for `/metrics` (Prometheus text) and `/healthz`, on one std thread.
//! One request per connection, answered and closed: scrapers and health probes need no more,
//! and it keeps hostile clients cheap (bounded request size, short timeouts).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Most bytes of a request read; a longer head is answered 431.
const MAX_REQUEST: usize = 8 * 1024;
const IO_TIMEOUT: Duration = Duration::from_secs(2);

pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Serves `render()` on `/metrics` and "ok" on `/healthz`.
    pub fn start(
        listen: SocketAddr,
        render: impl Fn() -> String + Send + 'static,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        // Non-blocking accept, so the thread notices the stop flag without a wake-up
        // connection.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("metrics-http".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            if let Err(e) = answer(conn, &render) {
                                tracing::debug!(error = %e, "metrics request failed");
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "metrics listener");
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                }
            })?;
        Ok(Self {
            addr,
            stop,
            handle: Some(handle),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn answer(mut conn: TcpStream, render: &impl Fn() -> String) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(IO_TIMEOUT))?;
    conn.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let complete = loop {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break true;
        }
        if buf.len() >= MAX_REQUEST {
            break false;
        }
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break buf.windows(2).any(|w| w == b"\r\n");
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let (status, ctype, body) = if !complete {
        (
            "431 Request Header Fields Too Large",
            "text/plain",
            String::new(),
        )
    } else {
        let line = buf.split(|&b| b == b'\r').next().unwrap_or_default();
        let mut parts = line.split(|&b| b == b' ');
        let (method, target) = (parts.next().unwrap_or_default(), parts.next());
        let path = target
            .map(|t| t.split(|&b| b == b'?').next().unwrap_or_default())
            .unwrap_or_default();
        match (method, path) {
            (b"GET", b"/metrics") => ("200 OK", "text/plain; version=0.0.4", render()),
            (b"GET", b"/healthz") => ("200 OK", "text/plain", "ok\n".to_owned()),
            (b"GET", _) => ("404 Not Found", "text/plain", "not found\n".to_owned()),
            _ => ("405 Method Not Allowed", "text/plain", String::new()),
        }
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    conn.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(addr: SocketAddr, req: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(req).unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn answers_metrics_health_and_refuses_the_rest() {
        let s = MetricsServer::start("127.0.0.1:0".parse().unwrap(), || "x 1\n".into()).unwrap();
        let a = s.addr();
        let m = get(a, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.ends_with("\r\n\r\nx 1\n"), "{m}");
        assert!(get(a, b"GET /healthz HTTP/1.1\r\n\r\n").ends_with("ok\n"));
        assert!(get(a, b"GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(a, b"POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        // An oversized head is cut off (431, or a reset if the rest was still arriving).
        let mut big = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 20_000));
        let _ = std::thread::spawn(move || {
            let mut c = TcpStream::connect(a)?;
            c.write_all(&big)?;
            let mut out = String::new();
            c.read_to_string(&mut out).map(|_| out)
        })
        .join();
        // Garbage and a client that connects and says nothing leave it serving.
        assert!(get(a, b"\x00\xff\r\n\r\n").starts_with("HTTP/1.1 405"));
        drop(TcpStream::connect(a).unwrap());
        assert!(get(a, b"GET /healthz HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 200"));
        s.stop();
    }
}
