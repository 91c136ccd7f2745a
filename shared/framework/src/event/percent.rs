//! The HTTP binding's header values: a sender percent-encodes what a header cannot carry
//! (non-ASCII, space, `"`, `%`), and a receiver decodes every attribute before using it, so
//! `ce-ext: caf%C3%A9%2050%25` is the extension value `café 50%`. Bytes that decode to invalid
//! UTF-8 are refused, as the binding requires.

use cloudevents::{event::AttributesWriter, Event};
use http::HeaderMap;
use percent_encoding::percent_decode;

/// `event` (as the SDK read it from `headers`) with every `ce-*` attribute percent-decoded.
/// `specversion` and `time` have no encoded form; `dataschema` is a URI and stays as sent.
pub(super) fn decode_attributes(headers: &HeaderMap, mut event: Event) -> Result<Event, String> {
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else {
            continue;
        };
        if !value.as_bytes().contains(&b'%')
            || matches!(attribute, "specversion" | "time" | "dataschema")
        {
            continue;
        }
        let text = percent_decode(value.as_bytes())
            .decode_utf8()
            .map_err(|_| format!("header {name}: its percent-encoded bytes are not UTF-8"))?
            .into_owned();
        match attribute {
            "id" => drop(event.set_id(text)),
            "source" => drop(event.set_source(text)),
            "type" => drop(event.set_type(text)),
            "subject" => drop(event.set_subject(Some(text))),
            extension => event.set_extension(extension, text),
        }
    }
    Ok(event)
}
