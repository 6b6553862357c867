//! The HTTP endpoint: `GET /metrics` reads the maps and answers with the exposition text.

use std::{
    convert::Infallible,
    future::Future,
    net::SocketAddr,
    sync::{Arc, Mutex as SyncMutex, PoisonError},
    time::Duration,
};

use http_body_util::Full;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header::{ACCEPT, ALLOW, CONTENT_TYPE},
    server::conn::http1,
    service::service_fn,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::TcpListener,
    sync::{Mutex, Semaphore},
};

use super::{
    error::MetricsError,
    exposition::{Format, encode},
    scrape::{Scrape, SignalingRead},
    select::BindingSelector,
    snapshot::{Capacity, Snapshot},
    source::MetricsSource,
};
use anchor_pmip::error_chain;

/// The path of the metrics.
pub const METRICS_PATH: &str = "/metrics";
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 32;
/// A client must send a request's headers within this time, or the connection is closed.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Turns the state read at scrape time into exposition text.
pub struct Exporter {
    capacity: Capacity,
    selector: SyncMutex<BindingSelector>,
    /// The MAAR role's signaling metrics, when it runs.
    signaling: Option<SignalingRead>,
}

impl Exporter {
    /// `binding_labels_max` is `metrics_binding_labels_max`.
    pub fn new(capacity: Capacity, binding_labels_max: u32) -> Self {
        Self {
            capacity,
            selector: SyncMutex::new(BindingSelector::new(binding_labels_max)),
            signaling: None,
        }
    }

    /// Shows the signaling metrics `read` returns as well (the MAAR role).
    #[must_use]
    pub fn with_signaling(mut self, read: SignalingRead) -> Self {
        self.signaling = Some(read);
        self
    }

    /// Reads `source` (holding its lock only while reading) and encodes what it saw.
    pub async fn scrape<S: MetricsSource>(
        &self,
        source: &Mutex<S>,
        format: Format,
    ) -> Result<String, MetricsError> {
        let snapshot = {
            let source = source.lock().await;
            let mut selector = self.selector.lock().unwrap_or_else(PoisonError::into_inner);
            Snapshot::read(&*source, &mut selector, self.capacity.clone())?
        };
        let signaling = self.signaling.as_ref().map(|read| read());
        encode(Some(snapshot), signaling, format).map_err(MetricsError::Encode)
    }
}

/// A bound metrics listener (bound before the daemon touches any interface, so that a busy
/// address stops it early).
#[derive(Debug)]
pub struct MetricsListener {
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl MetricsListener {
    pub fn bind(addr: SocketAddr) -> Result<Self, MetricsError> {
        let bind_error = |source| MetricsError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        Ok(Self { listener, addr })
    }

    /// The address bound (with the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `GET /metrics` with what `target` reads until the future is dropped. Must run
    /// inside a tokio runtime.
    pub fn serve<T: Scrape>(
        self,
        target: T,
    ) -> Result<impl Future<Output = ()> + Send + 'static, MetricsError> {
        let addr = self.addr;
        let listener = TcpListener::from_std(self.listener)
            .map_err(|source| MetricsError::Bind { addr, source })?;
        let state = Arc::new(target);
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        Ok(async move {
            loop {
                let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of descriptors or memory: back off instead of spinning.
                        tracing::warn!("accept on the metrics listener {addr} failed: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let state = Arc::clone(&state);
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(respond(&request, &*state).await) }
                    });
                    let served = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    if let Err(error) = served {
                        tracing::debug!("metrics connection: {error}");
                    }
                    drop(slot);
                });
            }
        })
    }
}

fn text_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn respond<T: Scrape>(request: &Request<Incoming>, target: &T) -> Response<Full<Bytes>> {
    if request.uri().path() != METRICS_PATH {
        return text_response(
            StatusCode::NOT_FOUND,
            format!("not found: the metrics are at {METRICS_PATH}\n"),
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are allowed\n".to_owned(),
        );
        response
            .headers_mut()
            .insert(ALLOW, hyper::header::HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let accept = request
        .headers()
        .get(ACCEPT)
        .and_then(|value| value.to_str().ok());
    let format = Format::from_accept(accept);
    match target.scrape(format).await {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(format.content_type()),
            );
            response
        }
        Err(error) => {
            let message = error_chain(&error);
            tracing::warn!("{message}");
            text_response(StatusCode::INTERNAL_SERVER_ERROR, format!("{message}\n"))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;
    use crate::metrics::{MapsScrape, fake::FakeSource};

    /// One HTTP/1.0 exchange: status line, headers and body as one string.
    fn exchange(addr: SocketAddr, request: &str) -> String {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(request.as_bytes()).expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn serves_metrics_over_http() {
        let listener = MetricsListener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr();
        assert_ne!(addr.port(), 0);
        assert!(matches!(
            MetricsListener::bind(addr),
            Err(MetricsError::Bind { addr: a, .. }) if a == addr
        ));
        let mut fake = FakeSource::default();
        fake.add("2001:db8:1:1::/64", false);
        let source = Arc::new(Mutex::new(fake));
        let exporter = Exporter::new(Capacity::for_max_bindings(8), 10);
        let server = tokio::spawn(
            listener
                .serve(MapsScrape {
                    source: Arc::clone(&source),
                    exporter,
                })
                .expect("serve"),
        );

        let responses = tokio::task::spawn_blocking(move || {
            [
                "GET /metrics HTTP/1.0\r\n\r\n",
                "GET /metrics HTTP/1.0\r\nAccept: application/openmetrics-text; version=1.0.0\r\n\r\n",
                "GET /other HTTP/1.0\r\n\r\n",
                "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n",
            ]
            .map(|request| exchange(addr, request))
        })
        .await
        .expect("client");
        let [text, open_metrics, not_found, post] = &responses;
        assert!(text.starts_with("HTTP/1.0 200"), "{text}");
        assert!(
            text.to_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{text}"
        );
        assert!(
            text.contains("anchor_bindings{kind=\"redirect\"} 1\n"),
            "{text}"
        );
        assert!(
            open_metrics
                .to_lowercase()
                .contains("content-type: application/openmetrics-text"),
            "{open_metrics}"
        );
        assert!(open_metrics.ends_with("# EOF\n"), "{open_metrics}");
        assert!(not_found.starts_with("HTTP/1.0 404"), "{not_found}");
        assert!(post.starts_with("HTTP/1.0 405"), "{post}");
        assert!(post.to_lowercase().contains("allow: get, head"), "{post}");

        // A failed read is a failed scrape (500), never zeroes.
        source.lock().await.broken = true;
        let broken =
            tokio::task::spawn_blocking(move || exchange(addr, "GET /metrics HTTP/1.0\r\n\r\n"))
                .await
                .expect("client");
        assert!(broken.starts_with("HTTP/1.0 500"), "{broken}");
        assert!(
            broken.contains("cannot read the maps for /metrics"),
            "{broken}"
        );
        server.abort();
    }
}
