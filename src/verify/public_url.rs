//! The URL a sender called, for schemes that sign it (Square, HubSpot, Twilio).
//!
//! Behind a proxy or a load balancer the request's own URL is not the one the sender signed, so
//! the URL is configuration; rebuilding it from the request's headers is an opt-in.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, Uri, header};

use crate::error::{ConfigError, VerifyError};
use crate::scheme::single;

const FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Where the layer learns the URL a sender called.
#[derive(Debug, Clone)]
pub(crate) enum PublicUrl {
    /// Configured: the URL without its query, or with it (then it is used as it is).
    Configured { url: String, has_query: bool },
    /// Rebuilt from `X-Forwarded-Proto`/`X-Forwarded-Host`, else `Host`, and the request's
    /// path and query.
    FromRequest,
}

impl PublicUrl {
    /// Checks a configured URL: absolute `http` or `https`, without a fragment.
    pub(crate) fn configured(url: &str) -> Result<Self, ConfigError> {
        let invalid = |reason| ConfigError::InvalidPublicUrl { reason };
        let uri: Uri = url.parse().map_err(|_| invalid("it is not a URL"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(invalid("it is not an absolute http:// or https:// URL"));
        }
        if url.contains('#') {
            return Err(invalid("a fragment is never sent, so it cannot be signed"));
        }
        Ok(Self::Configured {
            url: url.to_owned(),
            has_query: uri.query().is_some(),
        })
    }

    /// The URL the sender called, for this request.
    pub(crate) fn resolve<'a>(
        &'a self,
        uri: &'a Uri,
        headers: &HeaderMap,
    ) -> Result<Cow<'a, str>, VerifyError> {
        match self {
            Self::Configured { url, has_query } => Ok(match uri.query() {
                // The query is the request's: Twilio puts a hash of each body in it.
                Some(query) if !has_query => Cow::Owned(format!("{url}?{query}")),
                _ => Cow::Borrowed(url),
            }),
            Self::FromRequest => {
                let scheme = match single(headers, &FORWARDED_PROTO)? {
                    Some(proto @ ("http" | "https")) => proto,
                    Some(_) => {
                        return Err(VerifyError::MalformedHeader {
                            header: FORWARDED_PROTO,
                            reason: "neither `http` nor `https`",
                        });
                    }
                    // Providers call https endpoints; a plain http one needs the header.
                    None => uri.scheme_str().unwrap_or("https"),
                };
                let host = match single(headers, &FORWARDED_HOST)? {
                    Some(host) => host,
                    None => match single(headers, &header::HOST)? {
                        Some(host) => host,
                        None => uri.authority().map(|authority| authority.as_str()).ok_or(
                            VerifyError::MissingHeader {
                                header: header::HOST,
                            },
                        )?,
                    },
                };
                let path = uri.path_and_query().map_or("/", |path| path.as_str());
                Ok(Cow::Owned(format!("{scheme}://{host}{path}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_url_takes_the_query_of_each_request() {
        let url = PublicUrl::configured("https://example.com/hooks/twilio").unwrap();
        let uri: Uri = "/internal/twilio?bodySHA256=ab".parse().unwrap();
        let resolved = url.resolve(&uri, &HeaderMap::new()).unwrap();
        assert_eq!(resolved, "https://example.com/hooks/twilio?bodySHA256=ab");
        let fixed = PublicUrl::configured("https://example.com/square?a=1").unwrap();
        assert_eq!(
            fixed.resolve(&uri, &HeaderMap::new()).unwrap(),
            "https://example.com/square?a=1"
        );
    }

    #[test]
    fn bad_urls_are_refused_at_configuration() {
        for url in [
            "",
            "example.com/hooks",
            "/hooks",
            "ftp://example.com/",
            "https://e.com/#x",
        ] {
            assert!(PublicUrl::configured(url).is_err(), "{url:?}");
        }
    }

    #[test]
    fn the_url_is_rebuilt_from_forwarded_headers_or_host() {
        let uri: Uri = "/hooks?x=1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "internal:8080".parse().unwrap());
        let url = PublicUrl::FromRequest;
        assert_eq!(
            url.resolve(&uri, &headers).unwrap(),
            "https://internal:8080/hooks?x=1"
        );
        headers.insert(FORWARDED_HOST, "example.com".parse().unwrap());
        headers.insert(FORWARDED_PROTO, "http".parse().unwrap());
        assert_eq!(
            url.resolve(&uri, &headers).unwrap(),
            "http://example.com/hooks?x=1"
        );
        headers.insert(FORWARDED_PROTO, "gopher".parse().unwrap());
        assert!(url.resolve(&uri, &headers).is_err());
        assert!(url.resolve(&uri, &HeaderMap::new()).is_err());
    }
}
