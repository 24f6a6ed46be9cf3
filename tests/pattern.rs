//! DESIGN.md's event-type pattern table, row by row, and the patterns it refuses.

use tower_webhook::{Pattern, PatternError};

fn check(pattern: &str, matches: &[&str], does_not_match: &[&str]) {
    let parsed = Pattern::new(pattern).unwrap();
    assert_eq!(parsed.as_str(), pattern);
    for event in matches {
        assert!(parsed.matches(event), "`{pattern}` should match `{event}`");
    }
    for event in does_not_match {
        assert!(
            !parsed.matches(event),
            "`{pattern}` should not match `{event}`"
        );
    }
}

#[test]
fn exact_pattern() {
    check(
        "order.completed",
        &["order.completed"],
        &[
            "order.completed.late",
            "order",
            "order.complete",
            "xorder.completed",
        ],
    );
}

#[test]
fn single_segment_is_a_category() {
    check(
        "order",
        &["order", "order.completed", "order.item.added"],
        &["orders.completed", "orders", "orde", "user.order"],
    );
}

#[test]
fn trailing_star_takes_one_or_more_segments() {
    check(
        "order.*",
        &["order.completed", "order.item.added"],
        &["order", "orders.completed", "user.order.completed"],
    );
}

#[test]
fn inner_star_takes_exactly_one_segment() {
    check(
        "*.created",
        &["user.created", "task.created"],
        &["user.created.twice", "created", "user.updated"],
    );
    check(
        "order.*.added",
        &["order.item.added"],
        &["order.added", "order.item.sub.added"],
    );
}

#[test]
fn lone_star_matches_everything() {
    check(
        "*",
        &["order", "order.completed", "a.b.c.d", "issues.opened"],
        &[],
    );
}

#[test]
fn invalid_patterns_are_refused_with_a_reason() {
    assert_eq!(Pattern::new(""), Err(PatternError::Empty));
    for pattern in ["a..b", ".a", "a.", ".", "*..a"] {
        assert_eq!(
            Pattern::new(pattern),
            Err(PatternError::EmptySegment {
                pattern: pattern.to_owned()
            }),
            "{pattern:?}"
        );
    }
    for pattern in ["ta*sk", "order*", "*order", "a.**", "a.b*.c"] {
        assert_eq!(
            Pattern::new(pattern),
            Err(PatternError::WildcardInSegment {
                pattern: pattern.to_owned()
            }),
            "{pattern:?}"
        );
    }
    for pattern in [
        " ",
        "order .completed",
        "order\t",
        "a.b\n",
        "a\u{a0}b",
        "a\u{7f}",
    ] {
        assert_eq!(
            Pattern::new(pattern),
            Err(PatternError::Whitespace {
                pattern: pattern.to_owned()
            }),
            "{pattern:?}"
        );
    }
}

#[test]
fn errors_explain_themselves() {
    assert_eq!(
        PatternError::Empty.to_string(),
        "invalid event pattern: it is empty"
    );
    assert_eq!(
        Pattern::new("ta*sk").unwrap_err().to_string(),
        "invalid event pattern `ta*sk`: `*` must be a whole segment"
    );
    assert_eq!(
        Pattern::new("a b").unwrap_err().to_string(),
        "invalid event pattern `a b`: whitespace or control character"
    );
}

#[test]
fn parses_through_from_str_and_try_from() {
    let parsed: Pattern = "order.*".parse().unwrap();
    assert_eq!(parsed, Pattern::try_from("order.*").unwrap());
    assert_eq!(parsed.to_string(), "order.*");
    assert!("a..b".parse::<Pattern>().is_err());
}

mod properties {
    use proptest::prelude::*;
    use tower_webhook::Pattern;

    proptest! {
        #[test]
        fn parsing_and_matching_never_panic(pattern in "\\PC{0,24}", event in "\\PC{0,24}") {
            if let Ok(parsed) = Pattern::new(&pattern) {
                let _ = parsed.matches(&event);
            }
        }

        #[test]
        fn a_literal_pattern_matches_itself_and_a_star_matches_all(
            segments in prop::collection::vec("[a-z_]{1,8}", 1..5),
            event in "[a-z_.]{0,24}",
        ) {
            let literal = segments.join(".");
            prop_assert!(Pattern::new(&literal).unwrap().matches(&literal));
            prop_assert!(Pattern::new("*").unwrap().matches(&event));
            let mut starred = segments.clone();
            starred[0] = "*".to_owned();
            prop_assert!(Pattern::new(&starred.join(".")).unwrap().matches(&literal));
        }
    }
}
