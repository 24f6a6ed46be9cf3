//! The verifying middleware: [`VerifySignatureLayer`] and its service, future and bodies.
//!
//! One request's path: [`service`](VerifySignature) reads the headers and checks the window
//! (`verification.rs`), the [future](ResponseFuture) streams the body into the verifier and
//! finishes it, and the inner service gets `Request<VerifiedBody>` with a
//! [`Verified`](crate::Verified) proof. See the [crate docs](crate) for an example.

mod body;
mod future;
mod layer;
mod public_url;
mod service;
mod verification;

pub use body::{ResponseBody, VerifiedBody};
pub use future::ResponseFuture;
pub use layer::VerifySignatureLayer;
pub use service::VerifySignature;
