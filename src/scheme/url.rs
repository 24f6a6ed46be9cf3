//! Schemes that sign the request URL: which spellings of a URL the sender may have signed.

use std::borrow::Cow;

use ::url::Url;

/// The URLs a sender may have signed when it called `url`, `url` itself first.
///
/// Twilio's SDKs accept a signature over the URL with its port removed, or with the default
/// port added when it has none; twilio-node also accepts the URL as the WHATWG URL standard
/// serialises it (<https://url.spec.whatwg.org/#url-serializing>), e.g. with a raw `'` in the
/// query as `%27`. See <https://www.twilio.com/docs/usage/webhooks/webhooks-security>.
///
/// A URL the WHATWG parser refuses yields itself only.
pub(crate) fn signed_url_variants(url: &str) -> Vec<String> {
    let Ok(parsed) = Url::parse(url) else {
        return vec![url.to_owned()];
    };
    // The serialiser drops a default port, so the port variants are made on the text.
    let mut variants: Vec<String> = Vec::new();
    for spelling in [url.to_owned(), parsed.into()] {
        let other_port = other_port(&spelling);
        for variant in [Some(spelling), other_port].into_iter().flatten() {
            if !variants.contains(&variant) {
                variants.push(variant);
            }
        }
    }
    variants
}

/// An http(s) URL with its port removed, or with its scheme's default port added when it has
/// none.
fn other_port(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let authority_start = scheme.len() + "://".len();
    let authority_end = authority_start + rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &url[authority_start..authority_end];
    // Userinfo may hold a `:` too: the host starts after the last `@`.
    let host_start = authority_start + authority.rfind('@').map_or(0, |at| at + 1);
    let host = &url[host_start..authority_end];
    // An IPv6 literal's colons are inside its brackets.
    match host.rfind(':').filter(|_| !host.ends_with(']')) {
        Some(colon) if host[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            let port_start = host_start + colon;
            Some(format!("{}{}", &url[..port_start], &url[authority_end..]))
        }
        Some(_) => None,
        None => Some(format!(
            "{}:{default_port}{}",
            &url[..authority_end],
            &url[authority_end..]
        )),
    }
}

/// `url` as HubSpot's v3 signature signs it: with these escapes decoded and no others.
/// <https://developers.hubspot.com/docs/api/webhooks/validating-requests>
pub(crate) fn hubspot_decoded(url: &str) -> Cow<'_, str> {
    const DECODED: &[u8] = b":/?@!$'()*,;";
    let decoded_at = |percent: usize| {
        let hex = url.get(percent + 1..percent + 3)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = u8::from_str_radix(hex, 16).ok()?;
        DECODED.contains(&byte).then_some(char::from(byte))
    };
    let mut decoded = String::new();
    let mut copied = 0;
    for (percent, _) in url.match_indices('%') {
        if let Some(c) = decoded_at(percent) {
            decoded.push_str(&url[copied..percent]);
            decoded.push(c);
            copied = percent + 3;
        }
    }
    if copied == 0 {
        return Cow::Borrowed(url);
    }
    decoded.push_str(&url[copied..]);
    Cow::Owned(decoded)
}

/// The URL to send `body` to: `url`, with `bodySHA256=<hex SHA-256 of the body>` added to its
/// query when `scheme` signs a form but the body is not one, as Twilio sends JSON (the
/// signature covers the URL, and so the hash). Otherwise `url` as it is.
/// <https://www.twilio.com/docs/usage/webhooks/webhooks-security#validating-signatures-from-twilio>
///
/// ```
/// use tower_webhook::scheme::{url_for_body, GitHub, Twilio};
///
/// let url = url_for_body(&Twilio, "https://example.com/hook?a=1", "application/json", b"{}");
/// assert_eq!(
///     url,
///     "https://example.com/hook?a=1&bodySHA256=44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
/// );
/// assert_eq!(url_for_body(&GitHub, "https://example.com/", "application/json", b"{}"), "https://example.com/");
/// ```
pub fn url_for_body<S: super::Scheme + ?Sized>(
    scheme: &S,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> String {
    use sha2::{Digest, Sha256};
    let signs_form = scheme.signed_content().contains(&super::Part::Form);
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !signs_form || essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return url.to_owned();
    }
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let query = base.split_once('?').map(|(_, query)| query);
    let has_hash = query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("bodySHA256"))
    });
    if has_hash {
        return url.to_owned();
    }
    let separator = match query {
        None => "?",
        Some("") => "",
        Some(_) => "&",
    };
    let hash = hex::encode(Sha256::digest(body));
    let mut out = format!("{base}{separator}bodySHA256={hash}");
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_port_is_removed_and_userinfo_kept() {
        assert_eq!(
            signed_url_variants("https://u:p@h.com:443/x?q"),
            ["https://u:p@h.com:443/x?q", "https://u:p@h.com/x?q"]
        );
    }

    #[test]
    fn the_default_port_is_added_when_there_is_none() {
        assert_eq!(
            signed_url_variants("http://h.com/x"),
            ["http://h.com/x", "http://h.com:80/x"]
        );
        assert_eq!(
            signed_url_variants("https://h.com?a=b:c"),
            [
                "https://h.com?a=b:c",
                "https://h.com:443?a=b:c",
                "https://h.com/?a=b:c",
                "https://h.com:443/?a=b:c",
            ]
        );
    }

    #[test]
    fn ipv6_literals_keep_their_colons() {
        assert_eq!(
            signed_url_variants("https://[::1]:8443/x"),
            ["https://[::1]:8443/x", "https://[::1]/x"]
        );
        assert_eq!(
            signed_url_variants("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
    }

    #[test]
    fn whatwg_serialisations_follow_the_text_variants() {
        assert_eq!(
            signed_url_variants("HTTPS://H.com/x?Body=It's+amazing"),
            [
                "HTTPS://H.com/x?Body=It's+amazing",
                "HTTPS://H.com:443/x?Body=It's+amazing",
                "https://h.com/x?Body=It%27s+amazing",
                "https://h.com:443/x?Body=It%27s+amazing",
            ]
        );
    }

    #[test]
    fn other_urls_yield_themselves() {
        assert_eq!(signed_url_variants("h.com/x"), ["h.com/x"]);
        assert_eq!(signed_url_variants("/x?y"), ["/x?y"]);
        assert_eq!(signed_url_variants("ftp://h.com/x"), ["ftp://h.com/x"]);
    }

    #[test]
    fn hubspot_decodes_only_its_escapes() {
        assert_eq!(hubspot_decoded("%3a%2F%41"), ":/%41");
        assert_eq!(
            hubspot_decoded("https://h.com/a%20b?x=%40%21%24%27%28%29%2a%2C%3B%3F%25"),
            "https://h.com/a%20b?x=@!$'()*,;?%25"
        );
        for unchanged in ["https://h.com/a%20b", "%", "%3", "%+3a", "%3é", "%é"] {
            assert!(matches!(hubspot_decoded(unchanged), Cow::Borrowed(u) if u == unchanged));
        }
    }
}
