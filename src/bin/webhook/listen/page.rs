//! The live page: one HTML file with its script and style inline, served from the binary.

const PAGE: &str = include_str!("page.html");

/// The page, told how many deliveries to keep on screen (as many as the server keeps).
pub(crate) fn page(keep: usize) -> String {
    PAGE.replacen(
        r#"<main id="deliveries">"#,
        &format!(r#"<main id="deliveries" data-keep="{keep}">"#),
        1,
    )
}

/// Nothing but the page itself may load: no script, style or font from anywhere else, and
/// requests only to this server.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'";
