//! What a user registers, by name: an HTTP function, a CloudEvent function, a background
//! (`event`) function, or one of the typed forms built on them (JSON in and out, a Pub/Sub
//! message).

use std::{future::Future, sync::Arc};

use bytes::Bytes;
use cloudevents::Event;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request, Response};
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub use super::signature::SignatureType;
use super::{
    body::Body,
    config_error::ConfigError,
    error::FunctionError,
    event::EventContext,
    pubsub::{MessagePublishedData, PubsubMessage},
};

/// What an HTTP function returns: a response, or an error the framework answers for it.
pub type HttpResult = Result<Response<Body>, FunctionError>;
/// What a CloudEvent function returns: `Ok` is answered 200, an error by its status.
pub type EventResult = Result<(), FunctionError>;

type HttpHandler = dyn Fn(Request<Bytes>) -> BoxFuture<'static, HttpResult> + Send + Sync;
/// Adds to a response's headers, given the request's: see [`Function::on_every_response`].
pub(crate) type ResponseHook = dyn Fn(&HeaderMap, &mut HeaderMap) + Send + Sync;
type EventHandler = dyn Fn(Event) -> BoxFuture<'static, EventResult> + Send + Sync;
type BackgroundHandler =
    dyn Fn(Value, EventContext) -> BoxFuture<'static, EventResult> + Send + Sync;

/// A function the framework can serve. Cheap to clone.
#[derive(Clone)]
pub struct Function {
    pub(crate) handler: Handler,
    warm_up: Option<Arc<WarmUp>>,
}

type WarmUp = dyn Fn() -> BoxFuture<'static, ()> + Send + Sync;

/// How a function takes its requests.
#[derive(Clone)]
pub(crate) enum Handler {
    /// Gets the request as sent (method, path, query, headers, whole body).
    Http(HttpFunction),
    /// Gets each delivery decoded into a CloudEvent, whatever form it arrived in.
    CloudEvent(Arc<EventHandler>),
    /// Gets each delivery as a legacy background event: data and context.
    Background(Arc<BackgroundHandler>),
}

/// An HTTP function, whether it reads request bodies, and what it adds to every response.
#[derive(Clone)]
pub(crate) struct HttpFunction {
    pub(crate) handler: Arc<HttpHandler>,
    pub(crate) reads_body: bool,
    pub(crate) on_response: Option<Arc<ResponseHook>>,
}

impl Function {
    fn new(handler: Handler) -> Self {
        Self {
            handler,
            warm_up: None,
        }
    }

    /// An HTTP function: `handler` gets each request with its whole body.
    pub fn http<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResult> + Send + 'static,
    {
        Self::new(Handler::Http(HttpFunction {
            handler: Arc::new(move |request| Box::pin(handler(request))),
            reads_body: true,
            on_response: None,
        }))
    }

    /// A CloudEvent function: `handler` gets each delivery as a CloudEvent, whether it came in
    /// binary or structured mode, as a legacy event, or as a raw Pub/Sub push body.
    ///
    /// Its errors are answered by their status, as an HTTP function's are. Eventarc delivers
    /// through Pub/Sub, which redelivers on every answer but a 2xx, **4xx included**, until
    /// the subscription's dead-letter policy (or the retention) ends it: for an event that can
    /// never succeed, return [`FunctionError::discarded`] (200), or register the handler with
    /// [`Function::pubsub`], which does that for every 4xx.
    pub fn cloudevent<F, Fut>(handler: F) -> Self
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        Self::new(Handler::CloudEvent(Arc::new(move |event| {
            Box::pin(handler(event))
        })))
    }

    /// A background function (signature type `event`), as Cloud Functions' first generation
    /// called them: `handler` gets each delivery's data and [`EventContext`]. A legacy event
    /// arrives as it was sent; a CloudEvent is converted to what its legacy event was, by the
    /// mapping the official frameworks share.
    pub fn event<F, Fut>(handler: F) -> Self
    where
        F: Fn(Value, EventContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        Self::new(Handler::Background(Arc::new(move |data, context| {
            Box::pin(handler(data, context))
        })))
    }

    /// A typed function: the request body, JSON, becomes the handler's `I`; what it returns is
    /// answered as JSON (200, `application/json`). A body that is not an `I` is a 400 saying
    /// why; an empty body is read as JSON `null` (so `Option<I>` and `()` accept it). Served as
    /// signature type `http`, as the official frameworks serve theirs. The handler may answer
    /// with another status than 200 through [`Context::set_status`](crate::Context::set_status).
    pub fn typed<I, O, F, Fut>(handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, FunctionError>> + Send + 'static,
    {
        Self::http(move |request: Request<Bytes>| {
            // Decoded before the future: the handler is called here, not captured by it.
            let call = typed_input::<I>(request.body()).map(&handler);
            async move {
                let mut response = crate::body::json_response(&call?.await?)?;
                if let Some(status) = crate::Context::current().and_then(|c| c.status_set()) {
                    *response.status_mut() = status;
                }
                Ok(response)
            }
        })
    }

    /// A Pub/Sub function (signature type `cloudevent`): `handler` gets each
    /// `messagePublished` event's message, its data decoded from base64.
    ///
    /// What its errors mean to Pub/Sub, which redelivers on every answer but a 2xx:
    ///
    /// - **A client error (any 4xx) is discarded**: acknowledged (200) with an ERROR line
    ///   saying why, never redelivered. `FunctionError::bad_request`, `with_status(409, ..)`,
    ///   `?` on a [`PayloadError`](crate::pubsub::PayloadError) (such as
    ///   [`PubsubMessage::json`] on data of the wrong shape) or on a
    ///   [`DataError`](crate::DataError) all say "this message can never succeed"; so does an
    ///   event that holds no Pub/Sub message.
    /// - **Anything else is redelivered**: `?` on another error (500),
    ///   [`FunctionError::unavailable`] (503), a panic, until the subscription's dead-letter
    ///   policy takes the message.
    pub fn pubsub<F, Fut>(handler: F) -> Self
    where
        F: Fn(PubsubMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        Self::cloudevent(move |event| {
            // Decoded before the future: the handler is called here, not captured by it.
            let call = MessagePublishedData::from_event(&event)
                .map(|published| handler(published.message));
            async move { call?.await.map_err(discard_client_errors) }
        })
    }

    /// Functions that share `state`: each handler gets an `Arc` of it beside its input, so
    /// nothing is cloned into closures by hand.
    ///
    /// ```
    /// use functions_framework::{body::full, Function};
    ///
    /// struct Greeter { greeting: String }
    ///
    /// let hello = Function::with_state(Greeter { greeting: "Hello".into() })
    ///     .http(|greeter, _request| async move {
    ///         Ok(http::Response::new(full(format!("{}, World!", greeter.greeting))))
    ///     });
    /// ```
    pub fn with_state<S: Send + Sync + 'static>(state: S) -> WithState<S> {
        WithState {
            state: Arc::new(state),
        }
    }

    /// Work to start as soon as the server does, beside it: opening a connection, filling a
    /// cache, so the first request finds it done instead of doing it. Requests are served
    /// meanwhile and do not wait for it; it runs once per server, and what it fails at is
    /// its own to log.
    pub fn warm_up<F, Fut>(self, start: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            warm_up: Some(Arc::new(move || Box::pin(start()))),
            ..self
        }
    }

    /// Starts the warm-up, if there is one, on the current runtime.
    pub(crate) fn start_warm_up(&self) {
        if let Some(warm_up) = &self.warm_up {
            tokio::spawn(warm_up());
        }
    }

    /// For an HTTP function, headers to add to every response it gives, the framework's own
    /// included (errors, 404s, a crash): `hook` gets the request's headers and the response's.
    /// CORS is the usual case. No effect on a CloudEvent function.
    pub fn on_every_response(
        self,
        hook: impl Fn(&HeaderMap, &mut HeaderMap) + Send + Sync + 'static,
    ) -> Self {
        self.map_http(|function| HttpFunction {
            on_response: Some(Arc::new(hook)),
            ..function
        })
    }

    pub(crate) fn response_hook(&self) -> Option<Arc<ResponseHook>> {
        match &self.handler {
            Handler::Http(function) => function.on_response.clone(),
            Handler::CloudEvent(_) | Handler::Background(_) => None,
        }
    }

    /// For an HTTP function that never looks at request bodies (a read-only API): they are
    /// not read at all, so a client cannot make the process hold one, and the handler gets an
    /// empty body. No effect on a CloudEvent function.
    pub fn without_request_bodies(self) -> Self {
        self.map_http(|function| HttpFunction {
            reads_body: false,
            ..function
        })
    }

    fn map_http(self, change: impl FnOnce(HttpFunction) -> HttpFunction) -> Self {
        match self.handler {
            Handler::Http(function) => Self {
                handler: Handler::Http(change(function)),
                ..self
            },
            Handler::CloudEvent(_) | Handler::Background(_) => self,
        }
    }

    /// Which kind of function this is.
    pub fn signature_type(&self) -> SignatureType {
        match self.handler {
            Handler::Http(_) => SignatureType::Http,
            Handler::CloudEvent(_) => SignatureType::CloudEvent,
            Handler::Background(_) => SignatureType::Event,
        }
    }
}

/// A Pub/Sub handler's 4xx means the message can never succeed: acknowledge it rather than
/// have Pub/Sub redeliver it until the dead-letter policy (see [`Function::pubsub`]).
fn discard_client_errors(error: FunctionError) -> FunctionError {
    if !error.is_client_error() {
        return error;
    }
    let reason = match error {
        FunctionError::BadRequest(reason) | FunctionError::NotFound(reason) => reason,
        FunctionError::Status { status, message } => format!("{message} ({status})"),
        other => other.to_string(),
    };
    FunctionError::Discarded { reason }
}

/// A typed function's input: the body as JSON, an empty one as `null`; one of more JSON values
/// than the budget allows is refused before it is parsed, as events are.
fn typed_input<I: DeserializeOwned>(body: &[u8]) -> Result<I, FunctionError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        crate::event::within_json_budget(body)?;
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        FunctionError::BadRequest(format!(
            "the request body is not the JSON this function takes: {e}"
        ))
    })
}

/// Builds functions that share one state; see [`Function::with_state`].
pub struct WithState<S> {
    state: Arc<S>,
}

impl<S: Send + Sync + 'static> WithState<S> {
    /// The shared state, for what runs beside the handlers (a warm-up, say).
    pub fn state(&self) -> Arc<S> {
        self.state.clone()
    }

    /// [`Function::http`], the handler also getting the state.
    pub fn http<F, Fut>(&self, handler: F) -> Function
    where
        F: Fn(Arc<S>, Request<Bytes>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HttpResult> + Send + 'static,
    {
        let state = self.state.clone();
        Function::http(move |request| handler(state.clone(), request))
    }

    /// [`Function::cloudevent`], the handler also getting the state.
    pub fn cloudevent<F, Fut>(&self, handler: F) -> Function
    where
        F: Fn(Arc<S>, Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        let state = self.state.clone();
        Function::cloudevent(move |event| handler(state.clone(), event))
    }

    /// [`Function::event`], the handler also getting the state.
    pub fn event<F, Fut>(&self, handler: F) -> Function
    where
        F: Fn(Arc<S>, Value, EventContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        let state = self.state.clone();
        Function::event(move |data, context| handler(state.clone(), data, context))
    }

    /// [`Function::typed`], the handler also getting the state.
    pub fn typed<I, O, F, Fut>(&self, handler: F) -> Function
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize,
        F: Fn(Arc<S>, I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, FunctionError>> + Send + 'static,
    {
        let state = self.state.clone();
        Function::typed(move |input| handler(state.clone(), input))
    }

    /// [`Function::pubsub`], the handler also getting the state.
    pub fn pubsub<F, Fut>(&self, handler: F) -> Function
    where
        F: Fn(Arc<S>, PubsubMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        let state = self.state.clone();
        Function::pubsub(move |message| handler(state.clone(), message))
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

    /// Adds a background function under `name`; see [`Function::event`].
    pub fn event<F, Fut>(self, name: &str, handler: F) -> Self
    where
        F: Fn(Value, EventContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        self.register(name, Function::event(handler))
    }

    /// Adds a typed function under `name`; see [`Function::typed`].
    pub fn typed<I, O, F, Fut>(self, name: &str, handler: F) -> Self
    where
        I: DeserializeOwned + Send + 'static,
        O: Serialize,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, FunctionError>> + Send + 'static,
    {
        self.register(name, Function::typed(handler))
    }

    /// Adds a Pub/Sub function under `name`; see [`Function::pubsub`].
    pub fn pubsub<F, Fut>(self, name: &str, handler: F) -> Self
    where
        F: Fn(PubsubMessage) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = EventResult> + Send + 'static,
    {
        self.register(name, Function::pubsub(handler))
    }

    /// The function registered as `name`: what a test calls in-process
    /// ([`Function::call`]) or serves (`testing::TestServer`, feature `testing`).
    pub fn get(&self, name: &str) -> Option<Function> {
        self.entries
            .iter()
            .find(|(registered, _)| registered == name)
            .map(|(_, function)| function.clone())
    }

    /// The one function that fits the target and signature type, or why none does.
    pub fn select(
        &self,
        target: Option<&str>,
        signature_type: Option<SignatureType>,
    ) -> Result<(String, Function), ConfigError> {
        let described = |entries: &[&(String, Function)]| {
            entries
                .iter()
                .map(|(name, function)| (name.clone(), function.signature_type()))
                .collect()
        };
        if self.entries.is_empty() {
            return Err(ConfigError::NothingRegistered);
        }
        let candidates: Vec<&(String, Function)> = self
            .entries
            .iter()
            .filter(|(name, function)| {
                target.is_none_or(|t| t == name)
                    && signature_type.is_none_or(|s| s == function.signature_type())
            })
            .collect();
        match candidates.as_slice() {
            [(name, function)] => Ok((name.clone(), function.clone())),
            [] => Err(ConfigError::NoSuchFunction {
                target: target.map(str::to_owned),
                signature_type,
                registered: described(&self.entries.iter().collect::<Vec<_>>()),
            }),
            several => Err(ConfigError::Ambiguous {
                candidates: described(several),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::empty;

    fn http() -> Function {
        Function::http(|_| async { Ok(Response::new(empty())) })
    }

    fn event() -> Function {
        Function::cloudevent(|_| async { Ok(()) })
    }

    /// Registers `hello` (http), and `on_event` (cloudevent) when `two`.
    fn registry(two: bool) -> Functions {
        let functions = Functions::new().register("hello", http());
        if two {
            functions.register("on_event", event())
        } else {
            functions
        }
    }

    fn picked(
        functions: &Functions,
        target: Option<&str>,
        signature: Option<SignatureType>,
    ) -> Result<String, ConfigError> {
        functions.select(target, signature).map(|(name, _)| name)
    }

    use SignatureType::{CloudEvent, Http};

    #[test]
    fn nothing_registered() {
        let error = picked(&Functions::new(), None, None).unwrap_err();
        assert_eq!(error, ConfigError::NothingRegistered);
    }

    #[test]
    fn the_only_function_needs_no_target_and_may_name_its_type() {
        let one = registry(false);
        assert_eq!(picked(&one, None, None).unwrap(), "hello");
        assert_eq!(picked(&one, None, Some(Http)).unwrap(), "hello");
        assert_eq!(picked(&one, Some("hello"), Some(Http)).unwrap(), "hello");
    }

    #[test]
    fn a_target_picks_among_several_and_the_type_must_match() {
        let two = registry(true);
        assert_eq!(picked(&two, Some("on_event"), None).unwrap(), "on_event");
        assert_eq!(
            picked(&two, Some("on_event"), Some(CloudEvent)).unwrap(),
            "on_event"
        );
        let registered = vec![("hello".into(), Http), ("on_event".into(), CloudEvent)];
        assert_eq!(
            picked(&two, Some("on_event"), Some(Http)).unwrap_err(),
            ConfigError::NoSuchFunction {
                target: Some("on_event".into()),
                signature_type: Some(Http),
                registered: registered.clone(),
            }
        );
        let unknown = picked(&two, Some("missing"), None).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "no function named \"missing\"; this binary has: hello (http), on_event (cloudevent)"
        );
    }

    #[test]
    fn a_type_alone_picks_when_it_leaves_one() {
        let two = registry(true);
        assert_eq!(picked(&two, None, Some(CloudEvent)).unwrap(), "on_event");
        assert_eq!(picked(&two, None, Some(Http)).unwrap(), "hello");
        let one = registry(false);
        assert_eq!(
            picked(&one, None, Some(CloudEvent))
                .unwrap_err()
                .to_string(),
            "no cloudevent function; this binary has: hello (http)"
        );
    }

    #[test]
    fn several_without_a_target_is_ambiguous() {
        let two = registry(true);
        let error = picked(&two, None, None).unwrap_err();
        assert_eq!(
            error,
            ConfigError::Ambiguous {
                candidates: vec![("hello".into(), Http), ("on_event".into(), CloudEvent)]
            }
        );
        assert_eq!(
            error.to_string(),
            "set FUNCTION_TARGET to pick one of: hello (http), on_event (cloudevent)"
        );
        let same_type = registry(false).register("other", http());
        assert!(matches!(
            picked(&same_type, None, Some(Http)),
            Err(ConfigError::Ambiguous { .. })
        ));
    }
}
