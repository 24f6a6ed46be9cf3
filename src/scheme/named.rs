//! Every preset by the name it reports, for programs that take `--scheme NAME`.

use std::sync::Arc;

use super::*;

/// The name of every preset, in the order [`preset`] lists them.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{PRESETS, preset};
///
/// assert!(PRESETS.len() >= 30);
/// for name in PRESETS {
///     assert_eq!(preset(name).unwrap().name(), *name);
/// }
/// ```
pub const PRESETS: &[&str] = &[
    "github",
    "github-sha1",
    "stripe",
    "slack",
    "standard-webhooks",
    "svix",
    "clerk",
    "resend",
    "shopify",
    "generic",
    "discord",
    "sendgrid",
    "twilio",
    "twilio-shared-key",
    "square",
    "hubspot",
    "paddle",
    "pagerduty",
    "calendly",
    "workos",
    "twitch",
    "zoom",
    "linear",
    "meta",
    "intercom",
    "vercel",
    "bitbucket",
    "typeform",
    "lemon-squeezy",
    "sentry",
    "gitlab",
    "paystack",
    "woocommerce",
    "mux",
];

/// The preset called `name` (one of [`PRESETS`]), or `None`.
///
/// ```
/// use tower_webhook::{scheme, VerifySignatureLayer};
///
/// let paddle = scheme::preset("paddle").expect("a preset");
/// let layer = VerifySignatureLayer::new(paddle, "pdl_ntfset_01_secret")?;
/// # Ok::<(), tower_webhook::ConfigError>(())
/// ```
pub fn preset(name: &str) -> Option<Arc<dyn Scheme>> {
    Some(match name {
        "github" => Arc::new(GitHub),
        "github-sha1" => Arc::new(GitHubSha1),
        "stripe" => Arc::new(Stripe),
        "slack" => Arc::new(Slack),
        "standard-webhooks" => Arc::new(StandardWebhooks),
        "svix" => Arc::new(Svix),
        "clerk" => Arc::new(Clerk),
        "resend" => Arc::new(Resend),
        "shopify" => Arc::new(Shopify),
        "generic" => Arc::new(Generic),
        "discord" => Arc::new(Discord),
        "sendgrid" => Arc::new(SendGrid),
        "twilio" => Arc::new(Twilio),
        "twilio-shared-key" => Arc::new(TwilioSharedKey),
        "square" => Arc::new(Square),
        "hubspot" => Arc::new(HubSpot),
        "paddle" => Arc::new(Paddle),
        "pagerduty" => Arc::new(PagerDuty),
        "calendly" => Arc::new(Calendly),
        "workos" => Arc::new(WorkOs),
        "twitch" => Arc::new(Twitch),
        "zoom" => Arc::new(Zoom),
        "linear" => Arc::new(Linear),
        "meta" => Arc::new(Meta),
        "intercom" => Arc::new(Intercom),
        "vercel" => Arc::new(Vercel),
        "bitbucket" => Arc::new(Bitbucket),
        "typeform" => Arc::new(Typeform),
        "lemon-squeezy" => Arc::new(LemonSqueezy),
        "sentry" => Arc::new(Sentry),
        "gitlab" => Arc::new(GitLab),
        "paystack" => Arc::new(Paystack),
        "woocommerce" => Arc::new(WooCommerce),
        "mux" => Arc::new(Mux),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_named_as_listed_and_well_formed() {
        for name in PRESETS {
            let scheme = preset(name).unwrap_or_else(|| panic!("{name} is listed, not found"));
            assert_eq!(scheme.name(), *name);
            body_position(&*scheme).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let mut sorted = PRESETS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), PRESETS.len(), "a name is listed twice");
        assert!(preset("nope").is_none());
    }
}
