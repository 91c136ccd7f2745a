//! Cross-origin reads: off unless origins are configured.

use http::{header, HeaderMap, HeaderValue};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Cors {
    #[default]
    Off,
    AnyOrigin,
    Origins(Vec<String>),
}

impl Cors {
    pub fn new(setting: Option<&str>) -> Self {
        let origins: Vec<String> = setting
            .unwrap_or("")
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        if origins.iter().any(|o| o == "*") {
            Self::AnyOrigin
        } else if origins.is_empty() {
            Self::Off
        } else {
            Self::Origins(origins)
        }
    }

    pub fn is_on(&self) -> bool {
        *self != Self::Off
    }

    /// Adds the CORS headers a response to `request` should carry.
    pub fn apply(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let origin = request.get(header::ORIGIN).and_then(|o| o.to_str().ok());
        let allowed = match (self, origin) {
            (Self::AnyOrigin, _) => Some(HeaderValue::from_static("*")),
            (Self::Origins(list), Some(origin)) if list.iter().any(|o| o == origin) => {
                HeaderValue::from_str(origin).ok()
            }
            _ => None,
        };
        if let Self::Origins(_) = self {
            response.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        if let Some(value) = allowed {
            response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            response.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, OPTIONS"),
            );
            response.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("3600"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_setting() {
        assert_eq!(Cors::new(None), Cors::Off);
        assert_eq!(Cors::new(Some(" ")), Cors::Off);
        assert_eq!(Cors::new(Some("*")), Cors::AnyOrigin);
        assert_eq!(
            Cors::new(Some("https://a.example/, https://b.example")),
            Cors::Origins(vec!["https://a.example".into(), "https://b.example".into()])
        );
    }
}
