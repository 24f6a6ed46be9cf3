//! Reading what a scheme needs from the request headers: single values, timestamps and
//! signatures in the shapes senders write them. One parser per shape.

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::crypto::{Algorithm, Encoding, MAX_SIGNATURES, Signature, Signatures};
use crate::error::{InvalidSecret, SignError, VerifyError};
use crate::secret::Secret;

use super::{SignedHeaders, Timestamp};

/// The value of `name` if it was sent; an error if it was sent more than once (proxies and
/// frameworks disagree on which value wins) or is not visible ASCII.
pub(crate) fn single<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h str>, VerifyError> {
    let Some(value) = unique(headers, name)? else {
        return Ok(None);
    };
    value
        .to_str()
        .map(Some)
        .map_err(|_| VerifyError::MalformedHeader {
            header: name.clone(),
            reason: "not visible ASCII",
        })
}

/// As [`single`], for a header the scheme cannot do without.
pub(crate) fn required<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<&'h str, VerifyError> {
    single(headers, name)?.ok_or_else(|| VerifyError::MissingHeader {
        header: name.clone(),
    })
}

/// The raw value of `name` if it was sent exactly once.
pub(crate) fn unique<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Option<&'h HeaderValue>, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(VerifyError::MalformedHeader {
            header: name.clone(),
            reason: "sent more than once",
        });
    }
    Ok(first)
}

/// The required header `name` as a [`Timestamp`].
pub(crate) fn timestamp<'h>(
    headers: &'h HeaderMap,
    name: &HeaderName,
) -> Result<Timestamp<'h>, VerifyError> {
    Timestamp::parse(required(headers, name)?, name)
}

/// The one signature of a header written `<prefix><encoded signature>`, such as `sha256=<hex>`.
///
/// A value without the prefix is another version of the scheme, which is not supported: a 401,
/// as a forged signature would get.
pub(crate) fn prefixed_signature(
    headers: &HeaderMap,
    name: &HeaderName,
    prefix: &str,
    algorithm: Algorithm,
    encoding: Encoding,
) -> Result<Signatures, VerifyError> {
    let value = required(headers, name)?;
    let Some(encoded) = value.strip_prefix(prefix) else {
        return Err(VerifyError::NoSupportedSignature {
            header: name.clone(),
        });
    };
    Signature::decode(algorithm, encoding, encoded)
        .map(Signatures::one)
        .ok_or_else(|| VerifyError::MalformedHeader {
            header: name.clone(),
            reason: Signature::expectation(algorithm, encoding),
        })
}

/// A timestamp header and a signature header holding one signature (Slack, Discord, SendGrid),
/// read in that order.
pub(crate) fn timestamped_signature<'h>(
    headers: &'h HeaderMap,
    timestamp_header: &HeaderName,
    signature_header: &HeaderName,
    prefix: &str,
    algorithm: Algorithm,
    encoding: Encoding,
) -> Result<SignedHeaders<'h>, VerifyError> {
    let timestamp = timestamp(headers, timestamp_header)?;
    let signatures = prefixed_signature(headers, signature_header, prefix, algorithm, encoding)?;
    Ok(SignedHeaders::new(signatures).with_timestamp(timestamp))
}

/// A signature version a list may carry: Stripe's `v1` (hex HMAC-SHA256), Standard Webhooks'
/// `v1` (base64 HMAC-SHA256) and `v1a` (base64 Ed25519).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version<'t> {
    pub(crate) tag: &'t str,
    pub(crate) algorithm: Algorithm,
    pub(crate) encoding: Encoding,
}

/// The shape of a list of signatures in one header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct List {
    /// Between entries: `,` (Stripe) or ` ` (Standard Webhooks).
    pub(crate) separator: char,
    /// Between an entry's version and its value: `=` (Stripe) or `,` (Standard Webhooks).
    pub(crate) pair: char,
    /// What each entry should look like, for the error when one does not.
    pub(crate) shape: &'static str,
}

impl List {
    /// Reads every entry of `value`: signatures of the `versions` given are decoded and kept,
    /// other versions skipped, and an entry that `other` takes (Stripe's `t=`) handed to it.
    /// Entries beyond [`MAX_SIGNATURES`] are refused, so a forged request cannot make the
    /// verifier check an endless list.
    pub(crate) fn read<'v>(
        self,
        value: &'v str,
        name: &HeaderName,
        versions: &[Version<'_>],
        mut other: impl FnMut(&'v str, &'v str) -> Result<bool, VerifyError>,
    ) -> Result<Listed, VerifyError> {
        let malformed = |reason| VerifyError::MalformedHeader {
            header: name.clone(),
            reason,
        };
        let mut signatures = Signatures::new();
        let mut entries = 0;
        let mut undecodable = None;
        for entry in value.split(self.separator) {
            let entry = entry.trim_matches(' ');
            // Runs of spaces separate a space-separated list; any other empty entry is a
            // malformed list (Stripe's `t=1,,v1=…`).
            if entry.is_empty() && self.separator == ' ' {
                continue;
            }
            let Some((key, encoded)) = entry.split_once(self.pair) else {
                return Err(malformed(self.shape));
            };
            if other(key, encoded)? {
                continue;
            }
            entries += 1;
            if entries > MAX_SIGNATURES {
                return Err(malformed("too many signatures"));
            }
            let Some(version) = versions.iter().find(|version| version.tag == key) else {
                continue;
            };
            match Signature::decode(version.algorithm, version.encoding, encoded) {
                Some(signature) => signatures
                    .push(signature)
                    .map_err(|_| malformed("too many signatures"))?,
                None => undecodable = Some((version.algorithm, version.encoding)),
            }
        }
        Ok(Listed {
            signatures,
            undecodable,
        })
    }
}

/// What [`List::read`] found.
pub(crate) struct Listed {
    signatures: Signatures,
    /// The algorithm and encoding of a version whose entry could not be decoded, if any.
    undecodable: Option<(Algorithm, Encoding)>,
}

impl Listed {
    /// The signatures, or why there are none: a 400 when an entry of a supported version could
    /// not be decoded, else a 401 (the header holds only versions this crate does not check).
    pub(crate) fn require(self, name: &HeaderName) -> Result<Signatures, VerifyError> {
        if !self.signatures.is_empty() {
            return Ok(self.signatures);
        }
        Err(match self.undecodable {
            Some((algorithm, encoding)) => VerifyError::MalformedHeader {
                header: name.clone(),
                reason: Signature::expectation(algorithm, encoding),
            },
            None => VerifyError::NoSupportedSignature {
                header: name.clone(),
            },
        })
    }
}

/// Refuses secrets that are empty or carry whitespace from a careless paste.
pub(crate) fn check_plain_secret(secret: &Secret) -> Result<(), InvalidSecret> {
    let bytes = secret.expose();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return Err(InvalidSecret::new("is empty"));
    };
    if first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return Err(InvalidSecret::new(
            "starts or ends with whitespace (pasted with a newline?)",
        ));
    }
    Ok(())
}

/// A header value the verifying side can read back: visible ASCII (and tabs) only, and no space
/// or tab at either end. `HeaderValue` itself also takes bytes above 0x7F, which every verifier
/// here refuses, and HTTP parsers strip the whitespace around a value
/// ([RFC 9110, 5.5](https://www.rfc-editor.org/rfc/rfc9110#section-5.5)), so a signed id or
/// timestamp with it would reach the receiver changed.
pub(crate) fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, SignError> {
    let padded = value.starts_with([' ', '\t']) || value.ends_with([' ', '\t']);
    HeaderValue::from_str(value)
        .ok()
        .filter(|value| value.to_str().is_ok() && !padded)
        .ok_or_else(|| SignError::InvalidHeaderValue {
            header: name.clone(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_entries_are_malformed_except_between_spaces() {
        let name = HeaderName::from_static("x-sig");
        let versions = [Version {
            tag: "v1",
            algorithm: Algorithm::HmacSha256,
            encoding: Encoding::Hex,
        }];
        let tag = "ab".repeat(32);
        let comma = List {
            separator: ',',
            pair: '=',
            shape: "key=value",
        };
        for value in [
            format!("v1={tag},"),
            format!(",v1={tag}"),
            format!("v1={tag},,v1={tag}"),
        ] {
            let read = comma.read(&value, &name, &versions, |_, _| Ok(false));
            assert!(
                matches!(
                    read,
                    Err(VerifyError::MalformedHeader {
                        reason: "key=value",
                        ..
                    })
                ),
                "{value}"
            );
        }
        let space = List {
            separator: ' ',
            pair: '=',
            shape: "key=value",
        };
        let value = format!("  v1={tag}   v1={tag} ");
        let read = space
            .read(&value, &name, &versions, |_, _| Ok(false))
            .unwrap();
        // The same signature twice is kept once.
        assert_eq!(read.require(&name).unwrap().len(), 1);
    }
}
