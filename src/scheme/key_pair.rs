//! The shape Discord and SendGrid share: a timestamp header, a signature header holding one
//! signature, and `{timestamp}{body}` signed with a key pair.

use http::{HeaderMap, HeaderName};

use super::headers::{header_value, timestamped_signature};
use super::{Message, Part, Signature, SignedHeaders, require_timestamp};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

pub(super) const SIGNED_CONTENT: &[Part] = &[Part::Timestamp, Part::Body];

/// Where a key-pair scheme's headers are and how its signature is written.
pub(super) struct KeyPairShape {
    pub(super) timestamp: HeaderName,
    pub(super) signature: HeaderName,
    pub(super) algorithm: Algorithm,
    pub(super) encoding: Encoding,
}

impl KeyPairShape {
    pub(super) fn parse<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<SignedHeaders<'h>, VerifyError> {
        timestamped_signature(
            headers,
            &self.timestamp,
            &self.signature,
            "",
            self.algorithm,
            self.encoding,
        )
    }

    pub(super) fn write_headers(
        &self,
        scheme: &str,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let timestamp = require_timestamp(message, scheme)?;
        headers.insert(self.timestamp.clone(), timestamp.into());
        let value = signature.encode(self.encoding);
        headers.insert(
            self.signature.clone(),
            header_value(&self.signature, &value)?,
        );
        Ok(())
    }
}
