//! `tracing` events written by the framework's logger as `log` records (feature `tracing`):
//! the same `RUST_LOG` filter, severity, trace and execution id, and the same queue. An
//! event's fields, after those of the spans it is in (root first, the event's own last, so the
//! nearest wins), travel as the record's key-values: top-level keys of the JSON line, and
//! `key=value` after the message in text.
//!
//! Without this, a `tracing::info!` with no subscriber is dropped, and tracing's own `log`
//! feature flattens its fields into the message.

use std::fmt;

use log::kv;
use tracing_core::{
    dispatcher,
    field::{Field, Visit},
    span, Dispatch, Event, Interest, LevelFilter, Metadata, Subscriber,
};
use tracing_subscriber::{
    layer::{Context, SubscriberExt},
    registry::LookupSpan,
    Layer,
};

/// Makes this process's `tracing` events `log` records, once `log`'s logger is set. A
/// subscriber the application installed first stays: it is the application's choice.
pub(super) fn install() {
    let subscriber = tracing_subscriber::registry().with(LogLayer);
    let _ = dispatcher::set_global_default(Dispatch::new(subscriber));
}

/// Hands events to `log`; keeps each open span's fields for the events inside it.
struct LogLayer;

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for LogLayer {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // `log`'s filter is set before this layer and never changes: decided once a callsite.
        if logged(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        logged(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(match log::max_level() {
            log::LevelFilter::Off => LevelFilter::OFF,
            log::LevelFilter::Error => LevelFilter::ERROR,
            log::LevelFilter::Warn => LevelFilter::WARN,
            log::LevelFilter::Info => LevelFilter::INFO,
            log::LevelFilter::Debug => LevelFilter::DEBUG,
            log::LevelFilter::Trace => LevelFilter::TRACE,
        })
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        for span in ctx
            .event_scope(event)
            .into_iter()
            .flat_map(|s| s.from_root())
        {
            if let Some(of_span) = span.extensions().get::<Fields>() {
                fields.extend(of_span);
            }
        }
        event.record(&mut fields);
        let message = fields.message.take().unwrap_or_default();
        let metadata = event.metadata();
        log::logger().log(
            &log::Record::builder()
                .level(level(metadata.level()))
                .target(metadata.target())
                .module_path(metadata.module_path())
                .file(metadata.file())
                .line(metadata.line())
                .key_values(&fields)
                .args(format_args!("{message}"))
                .build(),
        );
    }
}

/// Whether `log`'s logger (env_logger and its `RUST_LOG` filter) takes what `metadata` says.
fn logged(metadata: &Metadata<'_>) -> bool {
    log::logger().enabled(
        &log::Metadata::builder()
            .level(level(metadata.level()))
            .target(metadata.target())
            .build(),
    )
}

fn level(level: &tracing_core::Level) -> log::Level {
    match *level {
        tracing_core::Level::ERROR => log::Level::Error,
        tracing_core::Level::WARN => log::Level::Warn,
        tracing_core::Level::INFO => log::Level::Info,
        tracing_core::Level::DEBUG => log::Level::Debug,
        tracing_core::Level::TRACE => log::Level::Trace,
    }
}

/// Fields as recorded: numbers and booleans stay themselves (JSON numbers), anything else is
/// its `Debug` text. A name given again replaces the earlier value, in place.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    pairs: Vec<(&'static str, Value)>,
}

#[derive(Clone)]
enum Value {
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Text(String),
}

impl Fields {
    fn put(&mut self, name: &'static str, value: Value) {
        match self.pairs.iter_mut().find(|(n, _)| *n == name) {
            Some(pair) => pair.1 = value,
            None => self.pairs.push((name, value)),
        }
    }

    fn extend(&mut self, other: &Fields) {
        for (name, value) in &other.pairs {
            self.put(name, value.clone());
        }
    }
}

impl Visit for Fields {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), Value::U64(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), Value::F64(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), Value::Text(value.to_owned()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = Some(text);
        } else {
            self.put(field.name(), Value::Text(text));
        }
    }
}

impl kv::Source for Fields {
    fn visit<'kvs>(&'kvs self, visitor: &mut dyn kv::VisitSource<'kvs>) -> Result<(), kv::Error> {
        for (name, value) in &self.pairs {
            let value = match value {
                Value::I64(v) => kv::Value::from(*v),
                Value::U64(v) => kv::Value::from(*v),
                Value::F64(v) => kv::Value::from(*v),
                Value::Bool(v) => kv::Value::from(*v),
                Value::Text(v) => kv::Value::from(v.as_str()),
            };
            visitor.visit_pair(kv::Key::from_str(name), value)?;
        }
        Ok(())
    }
}
