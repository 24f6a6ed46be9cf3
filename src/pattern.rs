//! Event-type patterns: `issues.opened`, `issues`, `order.*`, `*.created`, `*`.

use std::cmp::{Ordering, Reverse};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// A validated event-type pattern, as [`EventRouter`](crate::EventRouter) registers them.
///
/// Event types are dot-separated segments (`customer.subscription.updated`).
///
/// | pattern | matches | does not match |
/// |---|---|---|
/// | `order.completed` | `order.completed` | `order.completed.late`, `order` |
/// | `order` (one segment: a category) | `order`, `order.completed`, `order.item.added` | `orders.completed` |
/// | `order.*` (`*` last: one or more segments) | `order.completed`, `order.item.added` | `order` |
/// | `*.created` (`*` inside: one segment) | `user.created`, `task.created` | `user.created.twice`, `created` |
/// | `*` | everything | |
///
/// # Example
///
/// ```
/// use tower_webhook::Pattern;
///
/// let pattern: Pattern = "order.*".parse()?;
/// assert!(pattern.matches("order.item.added"));
/// assert!(!pattern.matches("order"));
///
/// let error = Pattern::new("order..completed").unwrap_err();
/// assert_eq!(error.to_string(), "invalid event pattern `order..completed`: empty segment");
/// # Ok::<(), tower_webhook::PatternError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: Arc<str>,
    /// `None` stands for `*`.
    segments: Arc<[Option<Box<str>>]>,
}

/// Why a pattern was refused.
///
/// # Example
///
/// ```
/// use tower_webhook::{Pattern, PatternError};
///
/// assert!(matches!(Pattern::new("ta*sk"), Err(PatternError::WildcardInSegment { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern is empty.
    #[error("invalid event pattern: it is empty")]
    Empty,
    /// Two dots in a row, or a dot at either end (`a..b`, `.a`, `a.`).
    #[error("invalid event pattern `{pattern}`: empty segment")]
    EmptySegment {
        /// The refused pattern.
        pattern: String,
    },
    /// A `*` that is not a whole segment (`ta*sk`, `order*`).
    #[error("invalid event pattern `{pattern}`: `*` must be a whole segment")]
    WildcardInSegment {
        /// The refused pattern.
        pattern: String,
    },
    /// Whitespace or a control character anywhere in the pattern.
    #[error("invalid event pattern `{pattern}`: whitespace or control character")]
    Whitespace {
        /// The refused pattern.
        pattern: String,
    },
}

impl Pattern {
    /// Parses and validates a pattern.
    ///
    /// # Errors
    ///
    /// [`PatternError`] when the pattern is empty, has an empty segment, has a `*` that is not a
    /// whole segment, or contains whitespace.
    pub fn new(pattern: &str) -> Result<Self, PatternError> {
        let refuse = |make: fn(String) -> PatternError| Err(make(pattern.to_owned()));
        if pattern.is_empty() {
            return Err(PatternError::Empty);
        }
        if pattern.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse(|pattern| PatternError::Whitespace { pattern });
        }
        let mut segments = Vec::new();
        for segment in pattern.split('.') {
            if segment.is_empty() {
                return refuse(|pattern| PatternError::EmptySegment { pattern });
            }
            if segment == "*" {
                segments.push(None);
            } else if segment.contains('*') {
                return refuse(|pattern| PatternError::WildcardInSegment { pattern });
            } else {
                segments.push(Some(Box::from(segment)));
            }
        }
        Ok(Self {
            text: Arc::from(pattern),
            segments: segments.into(),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `event_type` matches, as the [table](Self) says.
    pub fn matches(&self, event_type: &str) -> bool {
        let mut events = event_type.split('.');
        let last = self.segments.len() - 1;
        for (index, segment) in self.segments.iter().enumerate() {
            let Some(event) = events.next() else {
                return false;
            };
            match segment {
                // A trailing `*` takes this segment and any that follow.
                None if index == last => return true,
                None => {}
                Some(literal) if **literal == *event => {}
                Some(_) => return false,
            }
        }
        // A single literal segment names a category: `order` takes `order.completed` too.
        events.next().is_none() || self.is_category()
    }

    fn is_category(&self) -> bool {
        matches!(&*self.segments, [Some(_)])
    }

    /// How specific this pattern is for an event type it matches: an exact match first, then
    /// a longer literal prefix, then fewer wildcards. Within those, the bare `*` comes last.
    pub(crate) fn specificity(&self, event_type: &str) -> impl Ord + use<> {
        let wildcards = self.segments.iter().filter(|s| s.is_none()).count();
        let literal_prefix = self.segments.iter().take_while(|s| s.is_some()).count();
        let exact = wildcards == 0 && *self.text == *event_type;
        let catch_all = matches!(&*self.segments, [None]);
        (exact, literal_prefix, Reverse(wildcards), !catch_all)
    }
}

/// Orders two candidates for the same event type; the earlier registration wins a tie.
pub(crate) fn more_specific(a: &Pattern, b: &Pattern, event_type: &str) -> Ordering {
    a.specificity(event_type).cmp(&b.specificity(event_type))
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(pattern: &str) -> Result<Self, PatternError> {
        Self::new(pattern)
    }
}

impl TryFrom<&str> for Pattern {
    type Error = PatternError;

    fn try_from(pattern: &str) -> Result<Self, PatternError> {
        Self::new(pattern)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Pattern").field(&self.as_str()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_literal_segment_is_a_category_but_longer_literals_are_exact() {
        let category = Pattern::new("order").unwrap();
        assert!(category.is_category());
        assert!(!Pattern::new("order.completed").unwrap().is_category());
        assert!(!Pattern::new("*").unwrap().is_category());
    }

    #[test]
    fn bare_star_ranks_below_a_star_with_a_literal() {
        let star = Pattern::new("*").unwrap();
        let created = Pattern::new("*.created").unwrap();
        assert_eq!(
            more_specific(&created, &star, "user.created"),
            Ordering::Greater
        );
    }
}
