//! JSON written again in the layouts senders and proxies use, token for token: keys keep their
//! order and numbers and strings their exact spelling, so that only the whitespace differs from
//! what arrived (a proxy that re-serialises JSON changes that and nothing else, and so breaks
//! the signature).

/// A way of laying out the same JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// No whitespace at all (`JSON.stringify(value)`, serde_json, Go's `json.Marshal`).
    Compact,
    /// `, ` and `: ` between items: Python's `json.dumps(value)`.
    Spaced,
    /// One item a line, indented by this many spaces: `JSON.stringify(value, null, n)` and
    /// Python's `json.dumps(value, indent=n)` write the same.
    Indented(usize),
}

impl Layout {
    /// The layouts tried on a body that did not verify as it arrived.
    pub(crate) const TRIED: [Self; 4] = [
        Self::Compact,
        Self::Spaced,
        Self::Indented(2),
        Self::Indented(4),
    ];

    /// How the diagnosis names it.
    pub(crate) fn describe(self) -> String {
        match self {
            Self::Compact => "compactly (no whitespace)".to_owned(),
            Self::Spaced => "with `, ` and `: ` between items (Python's json.dumps)".to_owned(),
            Self::Indented(n) => format!("pretty-printed with {n}-space indents"),
        }
    }
}

/// Whether `bytes` are one JSON document.
pub(crate) fn is_json(bytes: &[u8]) -> bool {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
}

/// `bytes`, a JSON document, laid out as `layout`; `None` when they are not JSON, or when the
/// result would be longer than `limit` (deep nesting indents every line: the output can grow
/// far past the input).
pub(crate) fn relayout(bytes: &[u8], layout: Layout, limit: usize) -> Option<Vec<u8>> {
    if !is_json(bytes) {
        return None;
    }
    let mut out = Vec::with_capacity((bytes.len() + bytes.len() / 4).min(limit));
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let newline = |out: &mut Vec<u8>, depth: usize, indent: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * indent));
    };
    let mut index = 0;
    while index < bytes.len() {
        if out.len() > limit {
            return None;
        }
        let byte = bytes[index];
        index += 1;
        if in_string {
            out.push(byte);
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(byte);
            }
            b'{' | b'[' => {
                out.push(byte);
                // An empty object or array stays `{}` or `[]` in every layout.
                let close = if byte == b'{' { b'}' } else { b']' };
                let next = bytes[index..]
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map(|at| index + at);
                if let Some(at) = next
                    && bytes[at] == close
                {
                    out.push(close);
                    index = at + 1;
                    continue;
                }
                depth += 1;
                if let Layout::Indented(n) = layout {
                    newline(&mut out, depth, n);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if let Layout::Indented(n) = layout {
                    newline(&mut out, depth, n);
                }
                out.push(byte);
            }
            b',' => {
                out.push(byte);
                match layout {
                    Layout::Compact => {}
                    Layout::Spaced => out.push(b' '),
                    Layout::Indented(n) => newline(&mut out, depth, n),
                }
            }
            b':' => {
                out.push(byte);
                if layout != Layout::Compact {
                    out.push(b' ');
                }
            }
            _ => out.push(byte),
        }
    }
    (out.len() <= limit).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_keep_every_token_and_its_order() {
        let body = br#" { "b" : [1, 2.50, {}], "a":{"s":"x, y: \"z\" {}"} , "e":[ ] } "#;
        let text = |layout| String::from_utf8(relayout(body, layout, usize::MAX).unwrap()).unwrap();
        assert_eq!(
            text(Layout::Compact),
            r#"{"b":[1,2.50,{}],"a":{"s":"x, y: \"z\" {}"},"e":[]}"#
        );
        assert_eq!(
            text(Layout::Spaced),
            r#"{"b": [1, 2.50, {}], "a": {"s": "x, y: \"z\" {}"}, "e": []}"#
        );
        assert_eq!(
            text(Layout::Indented(2)),
            "{\n  \"b\": [\n    1,\n    2.50,\n    {}\n  ],\n  \"a\": {\n    \"s\": \
             \"x, y: \\\"z\\\" {}\"\n  },\n  \"e\": []\n}"
        );
        assert_eq!(relayout(b"{\"a\":", Layout::Compact, usize::MAX), None);
        assert_eq!(
            relayout(b"\"a\\\\\" ", Layout::Compact, usize::MAX).unwrap(),
            b"\"a\\\\\""
        );
    }

    #[test]
    fn a_layout_longer_than_the_limit_is_none() {
        let body = br#"[[[1,2,3]]]"#;
        let full = relayout(body, Layout::Indented(4), usize::MAX).unwrap();
        assert_eq!(
            relayout(body, Layout::Indented(4), full.len()),
            Some(full.clone())
        );
        assert_eq!(relayout(body, Layout::Indented(4), full.len() - 1), None);
    }
}
