//! The HTTP side of `--metrics-addr`: [`tiny_http`] serving [`Metrics::render`] on
//! `GET /metrics`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::encoding::prometheus_text;

use super::Metrics;

/// The HTTP endpoint; stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds `addr` and serves `metrics` on `GET /metrics` from a background thread.
    pub fn start(addr: &str, metrics: Metrics) -> anyhow::Result<MetricsServer> {
        let server = tiny_http::Server::http(addr)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("--metrics-addr {addr}: cannot listen there"))?;
        let local = server
            .server_addr()
            .to_ip()
            .context("--metrics-addr: not an IP listener")?;
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let (srv, st) = (Arc::clone(&server), Arc::clone(&stop));
        let handle = std::thread::Builder::new()
            .name("ub-metrics".into())
            .spawn(move || loop {
                match srv.recv() {
                    Ok(request) => respond(request, &metrics),
                    // Unblocked by drop, or an accept error (e.g. out of fds): retry.
                    Err(_) if st.load(Ordering::Relaxed) => break,
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            })?;
        Ok(MetricsServer {
            addr: local,
            server,
            stop,
            handle: Some(handle),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl std::fmt::Debug for MetricsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.server.unblock();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// `GET`/`HEAD /metrics`: the metrics; other paths 404, other methods 405.
fn respond(request: tiny_http::Request, metrics: &Metrics) {
    use tiny_http::{Header, Method, Response};
    let path = request.url().split('?').next().unwrap_or("");
    let readable = matches!(request.method(), Method::Get | Method::Head);
    let (status, content_type, body) = match (readable, path) {
        (true, "/metrics") => (200, prometheus_text::CONTENT_TYPE, metrics.render()),
        (true, _) => (
            404,
            "text/plain; charset=utf-8",
            "uadpbench: metrics are at /metrics\n".to_owned(),
        ),
        (false, _) => (405, "text/plain; charset=utf-8", "only GET\n".to_owned()),
    };
    let header = |name: &str, value: &str| {
        Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
    };
    let mut response = Response::from_string(body)
        .with_status_code(status)
        .with_header(header("Content-Type", content_type));
    if status == 405 {
        response.add_header(header("Allow", "GET, HEAD"));
    }
    // tiny_http leaves the body out for HEAD and closes HTTP/1.0 connections itself.
    let _ = request.respond(response);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_endpoint() {
        use std::io::{Read, Write};
        let m = Metrics::default();
        m.set_campaign("c", 3);
        let server = MetricsServer::start("127.0.0.1:0", m).unwrap();
        let addr = server.local_addr();
        let ask = |request: &str| {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(request.as_bytes()).unwrap();
            let mut resp = String::new();
            s.read_to_string(&mut resp).unwrap();
            resp
        };
        let r = ask("GET /metrics?x=1 HTTP/1.0\r\n\r\n");
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200"), "{head}");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        assert!(body.contains("uadpbench_runs_planned 3\n"), "{body}");
        let r = ask("HEAD /metrics HTTP/1.0\r\n\r\n");
        let (head, body) = r.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200") && body.is_empty(), "{r}");
        let r = ask("GET / HTTP/1.0\r\n\r\n");
        assert!(
            r.starts_with("HTTP/1.0 404") && r.ends_with("/metrics\n"),
            "{r}"
        );
        let r = ask(
            "POST /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        assert!(r.contains("Allow: GET, HEAD"), "{r}");
        drop(server);
        // tiny_http's accept thread closes the listener shortly after the server is dropped.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(addr).is_ok() {
            assert!(std::time::Instant::now() < deadline, "still listening");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
