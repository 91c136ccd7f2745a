//! What a user registers: an HTTP function or a CloudEvent function, by name.

use std::{fmt, future::Future, str::FromStr, sync::Arc};

use bytes::Bytes;
use cloudevents::Event;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, Response};

use super::{body::Body, error::FunctionError};

/// What an HTTP function returns: a response, or an error the framework answers for it.
pub type HttpResult = Result<Response<Body>, FunctionError>;
/// What a CloudEvent function returns: `Ok` is answered 200, an error by its status.
pub type EventResult = Result<(), FunctionError>;

type HttpHandler = dyn Fn(Request<Bytes>) -> BoxFuture<'static, HttpResult> + Send + Sync;
/// Adds to a response's headers, given the request's: see [`Function::on_every_response`].
pub(crate) type ResponseHook = dyn Fn(&HeaderMap, &mut HeaderMap) + Send + Sync;
type EventHandler = dyn Fn(Event) -> BoxFuture<'static, EventResult> + Send + Sync;

/// A function the framework can serve. Cheap to clone.
#[derive(Clone)]
pub enum Function {
    /// Gets the request as sent (method, path, query, headers, whole body).
    Http(HttpFunction),
    /// Gets each delivery decoded into a CloudEvent, whatever form it arrived in.
    CloudEvent(Arc<EventHandler>),
}

/// An HTTP function, whether it reads request bodies, and what it adds to every response.
#[derive(Clone)]
pub struct HttpFunction {
    pub(crate) handler: Arc<HttpHandler>,
    pub(crate) reads_body: bool,
    pub(crate) on_response: Option<Arc<ResponseHook>>,
}

impl Function {
    /// An HTTP function: `handler` gets each request with its whole body.
    pub fn http<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResult> + Send + 'static,
    {
        Self::Http(HttpFunction {
            handler: Arc::new(move |request| Box::pin(handler(request))),
            reads_body: true,
            on_response: None,
        })
    }

    /// For an HTTP function, headers to add to every response it gives, the framework's own
    /// included (errors, 404s, a crash): `hook` gets the request's headers and the response's.
    /// CORS is the usual case. No effect on a CloudEvent function.
    pub fn on_every_response(
        self,
        hook: impl Fn(&HeaderMap, &mut HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        match self {
            Self::Http(function) => Self::Http(HttpFunction {
                on_response: Some(Arc::new(hook)),
                ..function
            }),
            other => other,
        }
    }

    pub(crate) fn response_hook(&self) -> Option<Arc<ResponseHook>> {
        match self {
            Self::Http(function) => function.on_response.clone(),
            Self::CloudEvent(_) => None,
        }
    }

    /// For an HTTP function that never looks at request bodies (a read-only API): they are
    /// not read at all, so a client cannot make the process hold one, and the handler gets an
    /// empty body. No effect on a CloudEvent function.
    pub fn without_request_bodies(self) -> Self {
        match self {
            Self::Http(function) => Self::Http(HttpFunction {
                reads_body: false,
                ..function
            }),
            other => other,
        }
    }

    /// A CloudEvent function: `handler` gets each delivery as a CloudEvent, whether it came in
    /// binary or structured mode, as a legacy event, or as a raw Pub/Sub push body.
    pub fn cloudevent<F, Fut>(handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        Self::CloudEvent(Arc::new(move |event| Box::pin(handler(event))))
    }

    /// Which kind of function this is.
    pub fn signature_type(&self) -> SignatureType {
        match self {
            Self::Http(_) => SignatureType::Http,
            Self::CloudEvent(_) => SignatureType::CloudEvent,
        }
    }
}

/// `FUNCTION_SIGNATURE_TYPE`: how requests reach the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureType {
    /// `http`: plain HTTP requests.
    Http,
    /// `cloudevent`: CloudEvents, however they arrive.
    CloudEvent,
}

impl FromStr for SignatureType {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "http" => Ok(Self::Http),
            "cloudevent" => Ok(Self::CloudEvent),
            other => Err(format!(
                "FUNCTION_SIGNATURE_TYPE is {other:?}; this framework serves \"http\" and \"cloudevent\""
            )),
        }
    }
}

impl fmt::Display for SignatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::CloudEvent => "cloudevent",
        })
    }
}

/// The functions a binary offers; `FUNCTION_TARGET` and `FUNCTION_SIGNATURE_TYPE` pick one.
#[derive(Default, Clone)]
pub struct Functions {
    entries: Vec<(String, Function)>,
}

impl Functions {
    /// No functions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `function` under `name`, the value `FUNCTION_TARGET` selects it by.
    pub fn register(mut self, name: &str, function: Function) -> Self {
        self.entries.push((name.to_owned(), function));
        self
    }

    /// Adds an HTTP function under `name`; see [`Function::http`].
    pub fn http<F, Fut>(self, name: &str, handler: F) -> Self
    where
        F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResult> + Send + 'static,
    {
        self.register(name, Function::http(handler))
    }

    /// Adds a CloudEvent function under `name`; see [`Function::cloudevent`].
    pub fn cloudevent<F, Fut>(self, name: &str, handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        self.register(name, Function::cloudevent(handler))
    }

    /// The one function that fits the target and signature type, or why none does.
    pub fn select(
        &self,
        target: Option<&str>,
        signature_type: Option<SignatureType>,
    ) -> Result<(String, Function), String> {
        let names = || {
            let listed: Vec<String> = self
                .entries
                .iter()
                .map(|(name, f)| format!("{name} ({})", f.signature_type()))
                .collect();
            listed.join(", ")
        };
        let mut candidates = self.entries.iter().filter(|(name, function)| {
            target.is_none_or(|t| t == name)
                && signature_type.is_none_or(|s| s == function.signature_type())
        });
        match (candidates.next(), candidates.next()) {
            (Some((name, function)), None) => Ok((name.clone(), function.clone())),
            (None, _) => Err(match (target, signature_type) {
                (Some(t), Some(s)) => {
                    format!("no {s} function named {t:?}; this binary has: {}", names())
                }
                (Some(t), None) => format!("no function named {t:?}; this binary has: {}", names()),
                (None, Some(s)) => format!("no {s} function; this binary has: {}", names()),
                (None, None) => "this binary registers no function".to_owned(),
            }),
            (Some(_), Some(_)) => Err(format!("set FUNCTION_TARGET to pick one of: {}", names())),
        }
    }
}
