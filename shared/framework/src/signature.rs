//! `FUNCTION_SIGNATURE_TYPE`: how requests reach a function, by the contract's names.

use std::fmt;

/// `FUNCTION_SIGNATURE_TYPE`: how requests reach the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureType {
    /// `http`: plain HTTP requests.
    Http,
    /// `cloudevent`: CloudEvents, however they arrive.
    CloudEvent,
    /// `event`: legacy background functions, `(data, context)`.
    Event,
}

impl SignatureType {
    /// Every signature type this framework serves, by the name the contract gives it.
    pub const NAMED: [(&'static str, SignatureType); 3] = [
        ("http", Self::Http),
        ("cloudevent", Self::CloudEvent),
        ("event", Self::Event),
    ];
}

impl fmt::Display for SignatureType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "http",
            Self::CloudEvent => "cloudevent",
            Self::Event => "event",
        })
    }
}
