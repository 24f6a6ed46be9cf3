//! Providers that are data: each one a [`CustomScheme`] built once, from the facts its own
//! documentation gives (sources in each type's docs), behind a unit struct of its own.

use std::sync::LazyLock;
use std::time::Duration;

use http::HeaderName;

use super::url::hubspot_decoded;
use super::{CustomScheme, TimestampFormat, Tolerance, handshake};
use crate::crypto::{Algorithm, Encoding};

/// One preset: its unit struct, its docs, and the data it is made of.
macro_rules! preset {
    ($(#[$doc:meta])* $name:ident => $spec:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl $name {
            /// The preset as a [`CustomScheme`], to adjust (a tolerance, a verify token)
            /// without losing the rest.
            pub fn to_custom(self) -> CustomScheme {
                Self::spec().clone()
            }

            fn spec() -> &'static CustomScheme {
                static SPEC: LazyLock<CustomScheme> = LazyLock::new(|| $spec);
                &SPEC
            }
        }

        delegate_scheme!($name => $name::spec);
    };
}

fn header(name: &'static str) -> HeaderName {
    HeaderName::from_static(name)
}

/// A template the tests check for every preset: a typo there fails them, not a request.
fn signing(scheme: CustomScheme, template: &'static str) -> CustomScheme {
    scheme
        .signed_content(template)
        .expect("every preset's template is valid")
}

preset! {
    /// GitHub's legacy header: `X-Hub-Signature: sha1=<hex>` (HMAC-SHA1 of the body), which
    /// GitHub still sends beside `X-Hub-Signature-256`. Prefer [`GitHub`](super::GitHub).
    /// Event `X-GitHub-Event` plus the body's `action`; id `X-GitHub-Delivery` (unsigned).
    /// <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>
    GitHubSha1 => CustomScheme::new(header("x-hub-signature"))
        .named("github-sha1")
        .signature_prefix("sha1=")
        .algorithm(Algorithm::HmacSha1)
        .event_type_header_and_field(header("x-github-event"), "action")
        .id_header(header("x-github-delivery"))
}

preset! {
    /// Twilio: `X-Twilio-Signature: <base64>`, HMAC-SHA1 with the auth token of the URL
    /// Twilio called followed by every form field sorted by name, name then value
    /// ([`Part::Form`]). A URL carrying `bodySHA256` (JSON deliveries) signs the body through
    /// that hash, which must match, and nothing follows the URL. The URL is checked as
    /// Twilio's SDKs do: as given, with its port removed or the default one added, and as a
    /// WHATWG parser writes it. Give the layer the public URL without its query
    /// ([`public_url`](crate::VerifySignatureLayer::public_url)): each request's query is
    /// added. Id `I-Twilio-Idempotency-Token` (unsigned). No timestamp.
    ///
    /// Twilio signs fields, not bytes, and joins them with nothing between: a captured
    /// `To=123&From=456` also verifies re-encoded, reordered, or split as `From4=56To123`, as
    /// with Twilio's own SDKs. Read the fields, not the raw body, and use the replay guard.
    /// <https://www.twilio.com/docs/usage/webhooks/webhooks-security>
    ///
    /// [`Part::Form`]: super::Part::Form
    Twilio => signing(
        CustomScheme::new(header("x-twilio-signature"))
            .named("twilio")
            .algorithm(Algorithm::HmacSha1)
            .encoding(Encoding::Base64)
            .id_header(header("i-twilio-idempotency-token")),
        "{url}{form}",
    )
}

preset! {
    /// Twilio with a SharedKey: a Webhooks Rule may sign with a key of its own and HMAC-SHA256
    /// (announced by `X-Twilio-Webhooks-Signature-Settings: key=…,algorithm=HMAC_SHA256`),
    /// over the same URL and form as [`Twilio`]; configure the SharedKey as the secret.
    /// <https://www.twilio.com/docs/usage/webhooks/webhooks-security>
    TwilioSharedKey => signing(
        CustomScheme::new(header("x-twilio-signature"))
            .named("twilio-shared-key")
            .encoding(Encoding::Base64)
            .id_header(header("i-twilio-idempotency-token")),
        "{url}{form}",
    )
}

preset! {
    /// Square: `x-square-hmacsha256-signature: <base64>`, HMAC-SHA256 of the notification URL
    /// then the body, with the subscription's signature key. Give the layer the URL exactly as
    /// registered ([`public_url`](crate::VerifySignatureLayer::public_url)). Event `type`, id
    /// `event_id` (body). No timestamp.
    /// <https://developer.squareup.com/docs/webhooks/step3validate>
    Square => signing(
        CustomScheme::new(header("x-square-hmacsha256-signature"))
            .named("square")
            .encoding(Encoding::Base64)
            .event_type_field("type")
            .id_field("event_id"),
        "{url}{body}",
    )
}

preset! {
    /// HubSpot v3: `X-HubSpot-Signature-v3: <base64>`, HMAC-SHA256 of method, URL, body and
    /// `X-HubSpot-Request-Timestamp` (milliseconds) with the app's client secret; refused
    /// 5 minutes either side. The URL is signed with a few escapes decoded, as HubSpot does.
    /// The body is an array of events: event type and id are the first one's
    /// `subscriptionType` and `eventId`.
    /// <https://developers.hubspot.com/docs/api/webhooks/validating-requests>
    HubSpot => signing(
        CustomScheme::new(header("x-hubspot-signature-v3"))
            .named("hubspot")
            .encoding(Encoding::Base64)
            .timestamp_header(header("x-hubspot-request-timestamp"))
            .timestamp_format(TimestampFormat::Milliseconds)
            .signed_url_with(hubspot_decoded)
            .event_type_field("0.subscriptionType")
            .id_field("0.eventId"),
        "{method}{url}{body}{timestamp}",
    )
}

preset! {
    /// Paddle Billing: `Paddle-Signature: ts=<s>;h1=<hex>[;h1=…]`, HMAC-SHA256 of
    /// `{ts}:{body}` with the whole secret (`pdl_ntfset_…`). Refused when more than 5 s old,
    /// as Paddle's SDKs do (and more than 300 s ahead). Event `event_type`, id
    /// `notification_id` (body).
    /// <https://developer.paddle.com/webhooks/signature-verification>
    Paddle => signing(
        CustomScheme::new(header("paddle-signature"))
            .named("paddle")
            .signature_list(";", '=', "h1")
            .timestamp_in_signature("ts")
            .tolerance(Tolerance::new(Duration::from_secs(5), Duration::from_secs(300)))
            .event_type_field("event_type")
            .id_field("notification_id"),
        "{timestamp}:{body}",
    )
}

preset! {
    /// PagerDuty v3: `X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]` (one per active secret),
    /// HMAC-SHA256 of the body. Event `event.event_type`; id `X-Webhook-Id` (unsigned, kept
    /// across retries). No timestamp.
    /// <https://developer.pagerduty.com/docs/webhooks/webhook-signatures/>
    PagerDuty => CustomScheme::new(header("x-pagerduty-signature"))
        .named("pagerduty")
        .signature_list(",", '=', "v1")
        .event_type_field("event.event_type")
        .id_header(header("x-webhook-id"))
}

preset! {
    /// Calendly: `Calendly-Webhook-Signature: t=<s>,v1=<hex>`, HMAC-SHA256 of `{t}.{body}`
    /// with the webhook signing key; a 3-minute window. Event `event` (body).
    /// <https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures>
    Calendly => signing(
        CustomScheme::new(header("calendly-webhook-signature"))
            .named("calendly")
            .signature_list(",", '=', "v1")
            .timestamp_in_signature("t")
            .tolerance(Duration::from_secs(180))
            .event_type_field("event"),
        "{timestamp}.{body}",
    )
}

preset! {
    /// WorkOS: `WorkOS-Signature: t=<ms>, v1=<hex>`, HMAC-SHA256 of `{t}.{body}` (t in
    /// milliseconds, as sent); 180 s either way. Event `event`, id `id` (body).
    /// <https://workos.com/docs/events/data-syncing/webhooks>
    WorkOs => signing(
        CustomScheme::new(header("workos-signature"))
            .named("workos")
            .signature_list(", ", '=', "v1")
            .timestamp_in_signature("t")
            .timestamp_format(TimestampFormat::Milliseconds)
            .tolerance(Duration::from_secs(180))
            .event_type_field("event")
            .id_field("id"),
        "{timestamp}.{body}",
    )
}

preset! {
    /// Twitch EventSub: `Twitch-Eventsub-Message-Signature: sha256=<hex>`, HMAC-SHA256 of
    /// message id, timestamp (RFC 3339, as sent) and body; refused after 10 minutes (or 5
    /// ahead). Event
    /// `Twitch-Eventsub-Subscription-Type`; id `Twitch-Eventsub-Message-Id` (signed). The
    /// `webhook_callback_verification` challenge is answered by the layer.
    /// <https://dev.twitch.tv/docs/eventsub/handling-webhook-events/>
    Twitch => signing(
        CustomScheme::new(header("twitch-eventsub-message-signature"))
            .named("twitch")
            .signature_prefix("sha256=")
            .timestamp_header(header("twitch-eventsub-message-timestamp"))
            .timestamp_format(TimestampFormat::Rfc3339)
            .tolerance(Tolerance::new(Duration::from_secs(600), Duration::from_secs(300)))
            .id_header(header("twitch-eventsub-message-id"))
            .event_type_header(header("twitch-eventsub-subscription-type"))
            .answers(handshake::twitch),
        "{id}{timestamp}{body}",
    )
}

preset! {
    /// Zoom: `x-zm-signature: v0=<hex>`, HMAC-SHA256 of `v0:{timestamp}:{body}` with the
    /// app's secret token, `x-zm-request-timestamp` in seconds. Event `event` (body). The
    /// `endpoint.url_validation` check is answered by the layer.
    /// <https://developers.zoom.us/docs/api/webhooks/>
    Zoom => signing(
        CustomScheme::new(header("x-zm-signature"))
            .named("zoom")
            .signature_prefix("v0=")
            .timestamp_header(header("x-zm-request-timestamp"))
            .event_type_field("event")
            .answers(handshake::zoom),
        "v0:{timestamp}:{body}",
    )
}

preset! {
    /// Linear: `Linear-Signature: <hex>`, HMAC-SHA256 of the body, whose `webhookTimestamp`
    /// (milliseconds) must be within 60 s. Event `Linear-Event` plus the body's `action`
    /// (`Issue.create`); id `Linear-Delivery` (unsigned).
    /// <https://linear.app/developers/webhooks#securing-webhooks>
    Linear => CustomScheme::new(header("linear-signature"))
        .named("linear")
        .timestamp_field("webhookTimestamp")
        .timestamp_format(TimestampFormat::Milliseconds)
        .tolerance(Duration::from_secs(60))
        .event_type_header_and_field(header("linear-event"), "action")
        .id_header(header("linear-delivery"))
}

preset! {
    /// Meta (Facebook, Instagram, WhatsApp, Messenger): `X-Hub-Signature-256: sha256=<hex>`,
    /// HMAC-SHA256 of the body with the app secret. Event `object` (body). The subscription
    /// check (`GET ?hub.mode=subscribe…`) is answered when a verify token is set:
    /// `Meta.to_custom().verify_token("…")`.
    /// <https://developers.facebook.com/docs/graph-api/webhooks/getting-started>
    Meta => CustomScheme::new(header("x-hub-signature-256"))
        .named("meta")
        .signature_prefix("sha256=")
        .event_type_field("object")
}

preset! {
    /// Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body with the app's client
    /// secret. Event `topic`, id `id` (body).
    /// <https://developers.intercom.com/docs/webhooks/webhook-notifications>
    Intercom => CustomScheme::new(header("x-hub-signature"))
        .named("intercom")
        .signature_prefix("sha1=")
        .algorithm(Algorithm::HmacSha1)
        .event_type_field("topic")
        .id_field("id")
}

preset! {
    /// Vercel: `x-vercel-signature: <hex>`, HMAC-SHA1 of the body. Event `type`, id `id`
    /// (body).
    /// <https://vercel.com/docs/webhooks/webhooks-api#securing-webhooks>
    Vercel => CustomScheme::new(header("x-vercel-signature"))
        .named("vercel")
        .algorithm(Algorithm::HmacSha1)
        .event_type_field("type")
        .id_field("id")
}

preset! {
    /// Bitbucket Cloud: `X-Hub-Signature: sha256=<hex>`, HMAC-SHA256 of the body. Event
    /// `X-Event-Key` (`repo:push`); id `X-Request-UUID` (unsigned).
    /// <https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/>
    Bitbucket => CustomScheme::new(header("x-hub-signature"))
        .named("bitbucket")
        .signature_prefix("sha256=")
        .event_type_header(header("x-event-key"))
        .id_header(header("x-request-uuid"))
}

preset! {
    /// Typeform: `Typeform-Signature: sha256=<base64>`, HMAC-SHA256 of the body. Event
    /// `event_type`, id `event_id` (body).
    /// <https://www.typeform.com/developers/webhooks/secure-your-webhooks/>
    Typeform => CustomScheme::new(header("typeform-signature"))
        .named("typeform")
        .signature_prefix("sha256=")
        .encoding(Encoding::Base64)
        .event_type_field("event_type")
        .id_field("event_id")
}

preset! {
    /// Lemon Squeezy: `X-Signature: <hex>`, HMAC-SHA256 of the body with the signing secret.
    /// Event `X-Event-Name`.
    /// <https://docs.lemonsqueezy.com/help/webhooks/signing-requests>
    LemonSqueezy => CustomScheme::new(header("x-signature"))
        .named("lemon-squeezy")
        .event_type_header(header("x-event-name"))
}

preset! {
    /// Sentry integrations: `Sentry-Hook-Signature: <hex>`, HMAC-SHA256 of the body with the
    /// client secret. `Sentry-Hook-Timestamp` is not signed, so no window. Event
    /// `Sentry-Hook-Resource` plus the body's `action` (`issue.created`); id `Request-ID`
    /// (unsigned).
    /// <https://docs.sentry.io/organization/integrations/integration-platform/webhooks/>
    Sentry => CustomScheme::new(header("sentry-hook-signature"))
        .named("sentry")
        .event_type_header_and_field(header("sentry-hook-resource"), "action")
        .id_header(header("request-id"))
}

preset! {
    /// GitLab: `X-Gitlab-Token: <token>`, the secret token itself (no signature), compared in
    /// constant time. It proves the sender knows the token, not that the body is intact: TLS
    /// has to. Event `object_kind` (body); id `X-Gitlab-Event-UUID` (unsigned).
    /// <https://docs.gitlab.com/user/project/integrations/webhooks/#secret-token>
    GitLab => CustomScheme::new(header("x-gitlab-token"))
        .named("gitlab")
        .algorithm(Algorithm::Token)
        .event_type_field("object_kind")
        .id_header(header("x-gitlab-event-uuid"))
}

preset! {
    /// Paystack: `x-paystack-signature: <hex>`, HMAC-SHA512 of the body with the secret key.
    /// Event `event` (body).
    /// <https://paystack.com/docs/payments/webhooks/#verify-event-origin>
    Paystack => CustomScheme::new(header("x-paystack-signature"))
        .named("paystack")
        .algorithm(Algorithm::HmacSha512)
        .event_type_field("event")
}

preset! {
    /// WooCommerce: `X-WC-Webhook-Signature: <base64>`, HMAC-SHA256 of the body. Event
    /// `X-WC-Webhook-Topic` (`order.created`); id `X-WC-Webhook-Delivery-ID` (unsigned).
    /// <https://woocommerce.github.io/woocommerce-rest-api-docs/#webhooks>
    WooCommerce => CustomScheme::new(header("x-wc-webhook-signature"))
        .named("woocommerce")
        .encoding(Encoding::Base64)
        .event_type_header(header("x-wc-webhook-topic"))
        .id_header(header("x-wc-webhook-delivery-id"))
}

preset! {
    /// Mux: `Mux-Signature: t=<s>,v1=<hex>`, HMAC-SHA256 of `{t}.{body}`. Event `type`, id
    /// `id` (body).
    /// <https://docs.mux.com/core/verify-webhook-signatures>
    Mux => signing(
        CustomScheme::new(header("mux-signature"))
            .named("mux")
            .signature_list(",", '=', "v1")
            .timestamp_in_signature("t")
            .event_type_field("type")
            .id_field("id"),
        "{timestamp}.{body}",
    )
}
