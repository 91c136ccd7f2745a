//! RFC 9112 §3.2's rule for `Host`, which hyper leaves to the server: an HTTP/1.1 request
//! without one, any request with more than one, or one whose value is not a host (and
//! optional port) gets 400. HTTP/1.0 may omit it; HTTP/2 names its authority in
//! `:authority`, which the h2 layer checks.

use http::{header::HOST, uri::Authority, HeaderMap, Version};

use crate::error::FunctionError;

/// Whether a request's `Host` headers are acceptable for its HTTP version; if not, why.
pub(crate) fn check(version: Version, headers: &HeaderMap) -> Result<(), FunctionError> {
    if !matches!(version, Version::HTTP_10 | Version::HTTP_11) {
        return Ok(());
    }
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) if version == Version::HTTP_11 => Err(refused(
            "an HTTP/1.1 request must have a Host header (RFC 9112, section 3.2)",
        )),
        (None, _) => Ok(()),
        (Some(_), Some(_)) => Err(refused(
            "a request must not have more than one Host header (RFC 9112, section 3.2)",
        )),
        (Some(host), None) if is_host(host.as_bytes()) => Ok(()),
        (Some(_), None) => Err(refused(
            "the Host header is not a host and optional port (RFC 9112, section 3.2)",
        )),
    }
}

/// `uri-host [ ":" port ]`; empty is allowed (a target with no authority has an empty Host).
fn is_host(value: &[u8]) -> bool {
    if value.is_empty() {
        return true;
    }
    let Ok(authority) = Authority::try_from(value) else {
        return false;
    };
    let host = authority.host();
    // An authority may also hold userinfo (then it does not start with the host) and takes
    // any text as its port; Host allows neither.
    match authority.as_str().strip_prefix(host) {
        Some(port) if !host.is_empty() => match port.strip_prefix(':') {
            Some(digits) => digits.bytes().all(|b| b.is_ascii_digit()),
            None => port.is_empty(),
        },
        _ => false,
    }
}

fn refused(reason: &str) -> FunctionError {
    FunctionError::BadRequest(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn hosts(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(HOST, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn hosts_and_ports_pass_and_anything_else_is_refused() {
        for good in [
            "example.com",
            "example.com:8080",
            "127.0.0.1:80",
            "[::1]:8080",
            "",
        ] {
            assert!(check(Version::HTTP_11, &hosts(&[good])).is_ok(), "{good:?}");
        }
        for bad in [
            "user@example.com",
            "example.com:port",
            "exa mple.com",
            "example.com/path",
            ":80",
        ] {
            assert!(check(Version::HTTP_11, &hosts(&[bad])).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_http_1_1_requires_one_and_no_version_allows_two() {
        assert!(check(Version::HTTP_11, &hosts(&[])).is_err());
        assert!(check(Version::HTTP_10, &hosts(&[])).is_ok());
        assert!(check(Version::HTTP_2, &hosts(&[])).is_ok());
        assert!(check(Version::HTTP_11, &hosts(&["a", "b"])).is_err());
        assert!(check(Version::HTTP_10, &hosts(&["a", "a"])).is_err());
    }
}
