//! Starts a function in-process on an ephemeral port and talks to it over real HTTP; reads a
//! response from a call with no socket ([`Function::call`]) the same way.

use std::{net::SocketAddr, time::Duration};

use crate::{serve, Function, ServerOptions};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// A function served in-process on an ephemeral port of 127.0.0.1.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// A response, read whole.
pub struct Reply {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its whole body.
    pub body: Bytes,
}

impl Reply {
    /// Reads `response` whole: what [`Function::call`] answered, say.
    pub async fn read(response: crate::Response) -> Self {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: crate::body::to_bytes(body)
                .await
                .expect("the response body failed"),
        }
    }

    /// The body as JSON; panics, showing the body, when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
}

impl TestServer {
    /// Serves `function` with the default options.
    pub async fn start(function: Function) -> Self {
        Self::start_with(function, ServerOptions::default()).await
    }

    /// Serves `function` with `options`.
    pub async fn start_with(function: Function, options: ServerOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, function, options, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends one request over a fresh client and reads the whole response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body.into())).unwrap();
        let response = tokio::time::timeout(
            Duration::from_secs(30),
            Client::builder(TokioExecutor::new())
                .build_http()
                .request(request),
        )
        .await
        .expect("no answer within 30 s")
        .expect("request failed");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    /// POSTs `body` as `application/json`.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.send(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
        .await
    }

    /// Asks the server to stop and waits until it has.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("server did not stop")
            .unwrap();
    }

    /// Signals the server to stop without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits until the server has stopped (after [`TestServer::begin_stop`]).
    pub async fn finished(self) {
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("server did not stop")
            .unwrap();
    }
}
