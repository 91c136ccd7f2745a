//! The framework's tests through real sockets, one binary so an edit relinks once.

mod background_functions;
mod cloudevent_functions;
mod decode_properties;
mod handler_errors;
mod http_functions;
mod in_process;
mod server_behaviour;
#[cfg(feature = "tracing")]
mod tracing_logs;
mod typed_functions;
