//! Web origins as browsers write them in the `Origin` header (RFC 6454 §6.2).
//!
//! The agent signs the browser's `Origin` text, and the gateway checks the signature
//! against the origin it was configured with (design §2): the two must be the same
//! bytes. An origin configured in any other spelling — upper case, a trailing slash, the
//! scheme's default port — would fail every token proof (at the gateway) or refuse
//! every page (at the agent), so both refuse it when they start.

/// Why a configured origin is not one a browser would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OriginError {
    /// Not `https://`, or `http://` to another machine.
    #[error("must be https:// (http:// only for localhost)")]
    Scheme,
    /// A path, query, fragment, credentials or a trailing slash.
    #[error("must be scheme://host[:port] with no path, query or trailing slash")]
    NotBare,
    /// Upper case or non-ASCII letters.
    #[error("must be written as browsers send it: lower case, international names in punycode")]
    Spelling,
    /// `:443` on https, `:80` on http.
    #[error("must leave out the scheme's default port, as browsers do in Origin")]
    DefaultPort,
}

/// Checks that `origin` is `https://host[:port]` (or `http://` to this machine) spelled
/// as browsers serialize it: lower case, ASCII, no default port, nothing after the
/// authority.
pub fn check_origin(origin: &str) -> Result<(), OriginError> {
    let (rest, default_port) = if let Some(r) = origin.strip_prefix("https://") {
        (r, ":443")
    } else if let Some(r) = origin.strip_prefix("http://") {
        if !is_loopback_authority(r) {
            return Err(OriginError::Scheme);
        }
        (r, ":80")
    } else {
        return Err(OriginError::Scheme);
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return Err(OriginError::NotBare);
    }
    if !rest.is_ascii() || rest.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(OriginError::Spelling);
    }
    if rest.ends_with(default_port) {
        return Err(OriginError::DefaultPort);
    }
    Ok(())
}

/// Whether `authority` (`host[:port]`) names this machine: `localhost`, `127.0.0.1` or
/// `[::1]`.
pub fn is_loopback_authority(authority: &str) -> bool {
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => host,
        _ => authority,
    };
    matches!(host, "localhost" | "127.0.0.1" | "[::1]")
}

#[cfg(test)]
mod tests {
    use super::{OriginError, check_origin};

    #[test]
    fn origins_are_accepted_only_as_browsers_spell_them() {
        for good in [
            "https://dichvucong.gov.vn",
            "https://dichvucong.gov.vn:8443",
            "https://xn--dchvcng-m6a.vn",
            "http://localhost:8080",
            "http://127.0.0.1",
            "http://[::1]:3000",
        ] {
            assert_eq!(check_origin(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("https://DichVuCong.gov.vn", OriginError::Spelling),
            ("https://dịchvụcông.vn", OriginError::Spelling),
            ("https://dichvucong.gov.vn:443", OriginError::DefaultPort),
            ("http://localhost:80", OriginError::DefaultPort),
            ("http://portal.test", OriginError::Scheme),
            ("http://localhost.evil.test", OriginError::Scheme),
            ("dichvucong.gov.vn", OriginError::Scheme),
            ("https://dichvucong.gov.vn/", OriginError::NotBare),
            ("https://", OriginError::NotBare),
            ("https://user@dichvucong.gov.vn", OriginError::NotBare),
        ] {
            assert_eq!(check_origin(bad), Err(why), "{bad}");
        }
    }
}
