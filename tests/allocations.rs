//! Allocations per verified request are a small constant: the same for a 1 KiB and a 1 MiB body,
//! and the same however many chunks the body arrives in (beyond the one buffer that gathers
//! a body of more than one chunk, sized once from `Content-Length`).
//!
//! A counting global allocator counts, per thread, the allocations made while one request goes
//! through the layer: `poll_ready`, `call`, the response future to completion, and dropping the
//! response (which drops the verified request's body in the inner service).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tower::Service;
use tower_webhook::scheme::{GitHub, Message, Scheme, StandardWebhooks, Stripe};
use tower_webhook::{Secret, VerifiedBody, VerifySignature, VerifySignatureLayer};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the thread-locals may already be gone while a thread shuts down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only
// const-initialised thread-locals without destructors, which never allocate.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made by `f` on this thread.
fn count<T>(f: impl FnOnce() -> T) -> (usize, T) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let value = f();
    COUNTING.with(|on| on.set(false));
    (ALLOCATIONS.with(Cell::get), value)
}

/// A body that yields its chunks one per poll, with an exact size hint.
struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    fn new(body: &Bytes, pieces: usize) -> Self {
        let step = body.len().div_ceil(pieces);
        let chunks: VecDeque<Bytes> = (0..body.len())
            .step_by(step)
            .map(|start| body.slice(start..(start + step).min(body.len())))
            .collect();
        assert_eq!(chunks.len(), pieces);
        Self {
            chunks,
            remaining: body.len() as u64,
        }
    }
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = self.chunks.pop_front();
        if let Some(chunk) = &chunk {
            self.remaining -= chunk.len() as u64;
        }
        Poll::Ready(chunk.map(|chunk| Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[derive(Clone, Copy)]
struct NoOp;

impl Service<Request<VerifiedBody>> for NoOp {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<VerifiedBody>) -> Self::Future {
        assert_eq!(
            request.size_hint().exact(),
            request.headers()["content-length"]
                .to_str()
                .ok()
                .and_then(|n| n.parse().ok())
        );
        drop(request);
        ready(Ok(Response::new(())))
    }
}

const NOW: i64 = 1_700_000_000;

struct Setup {
    service: VerifySignature<NoOp>,
    scheme: Arc<dyn Scheme>,
    secret: Secret,
}

impl Setup {
    fn new(scheme: Arc<dyn Scheme>, secret: &str) -> Self {
        let layer = VerifySignatureLayer::new(Arc::clone(&scheme), secret)
            .expect("valid secret")
            .clock(|| NOW);
        Self {
            service: tower::Layer::layer(&layer, NoOp),
            scheme,
            secret: Secret::new(secret),
        }
    }

    fn request(&self, size: usize, pieces: usize) -> Request<Chunks> {
        let body = Bytes::from(vec![b'x'; size]);
        let message = Message::new(&body)
            .id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
            .timestamp(NOW);
        let mut request = Request::post("/webhook")
            .body(Chunks::new(&body, pieces))
            .expect("valid request");
        *request.headers_mut() = self.scheme.sign(&self.secret, &message).expect("signs");
        request
            .headers_mut()
            .insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
        request
    }

    /// Allocations for one request of `size` bytes in `pieces` chunks, and its status.
    fn allocations(&mut self, size: usize, pieces: usize) -> usize {
        let request = self.request(size, pieces);
        let (allocations, status) = count(|| {
            let mut cx = Context::from_waker(Waker::noop());
            assert!(Service::<Request<Chunks>>::poll_ready(&mut self.service, &mut cx).is_ready());
            let mut future = pin!(self.service.call(request));
            loop {
                if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
                    break response.expect("infallible").status();
                }
            }
        });
        assert_eq!(status, StatusCode::OK, "{} {size} B", self.scheme.name());
        allocations
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

fn check(scheme: Arc<dyn Scheme>, secret: &str) {
    let mut setup = Setup::new(Arc::clone(&scheme), secret);
    // A first request warms up what is made once per thread or process (none expected, but it
    // must not be counted against the first measured request).
    setup.allocations(KIB, 1);

    let small = setup.allocations(KIB, 1);
    let medium = setup.allocations(64 * KIB, 1);
    let large = setup.allocations(MIB, 1);
    let small_in_2 = setup.allocations(KIB, 2);
    let small_in_64 = setup.allocations(KIB, 64);
    let medium_in_64 = setup.allocations(64 * KIB, 64);
    let large_in_2 = setup.allocations(MIB, 2);
    let large_in_64 = setup.allocations(MIB, 64);
    println!(
        "{}: 1 KiB: {small}, 64 KiB: {medium}, 1 MiB: {large}, 1 KiB in 2/64 chunks: \
         {small_in_2}/{small_in_64}, 64 KiB in 64 chunks: {medium_in_64}, \
         1 MiB in 2/64 chunks: {large_in_2}/{large_in_64}",
        scheme.name()
    );

    // A body in one piece is kept as it came, whatever its size.
    assert_eq!(
        small,
        medium,
        "{}: body size changes allocations",
        scheme.name()
    );
    assert_eq!(
        small,
        large,
        "{}: body size changes allocations",
        scheme.name()
    );
    // In pieces, up to 64 KiB are reserved from `Content-Length` at once.
    assert_eq!(
        small_in_64,
        medium_in_64,
        "{}: body size changes allocations",
        scheme.name()
    );
    // Beyond that the buffer grows only as bytes arrive (a client's declared length alone
    // never reserves more), doubling: four more steps from 64 KiB to 1 MiB, and no more.
    assert!(
        large_in_64 <= medium_in_64 + 4,
        "{}: {large_in_64} allocations for 1 MiB vs {medium_in_64} for 64 KiB",
        scheme.name()
    );
    assert_eq!(
        small_in_2,
        small_in_64,
        "{}: chunk count changes allocations",
        scheme.name()
    );
    // Two halves of 1 MiB: the second doubles the buffer once; 64 pieces grow it stepwise.
    assert!(
        large_in_2 <= large_in_64 && large_in_64 <= large_in_2 + 4,
        "{}: 1 MiB in 2 chunks: {large_in_2}, in 64: {large_in_64}",
        scheme.name()
    );
    // More than one chunk costs at most one buffer (and its conversion to `Bytes`) on top.
    assert!(
        small_in_64 <= small + 2,
        "{}: {small_in_64} allocations in 64 chunks vs {small} in one",
        scheme.name()
    );
    // The signatures read from the headers, the verifier's per-key states, the `Verified`
    // proof, the delivery id kept in it (or the event header's first shared clone), and three
    // for `http::Extensions` to carry the proof: its map, the map's table, the boxed value.
    assert!(
        small <= 7,
        "{}: {small} allocations per request, where the signatures, the verifier, the proof and \
         its id, and the extension's three are all a verified request needs",
        scheme.name()
    );
}

#[test]
fn github_allocations_do_not_grow_with_body_size_or_chunks() {
    check(Arc::new(GitHub), "It's a Secret to Everybody");
}

#[test]
fn stripe_allocations_do_not_grow_with_body_size_or_chunks() {
    check(Arc::new(Stripe), "whsec_bench");
}

#[test]
fn standard_webhooks_allocations_do_not_grow_with_body_size_or_chunks() {
    check(
        Arc::new(StandardWebhooks),
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    );
}
