//! Text for people: tables, and what others wrote (URLs, errors, bodies) made safe to print.

/// `text` with control characters escaped, so that a receiver's answer or an error cannot
/// move the cursor, clear the screen or forge a line of output.
pub(crate) fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// At most `limit` characters of `text` (cleaned), with `…` when cut.
pub(crate) fn cut(text: &str, limit: usize) -> String {
    let cleaned = clean(text);
    if cleaned.chars().count() <= limit {
        return cleaned;
    }
    let mut out: String = cleaned.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` as one word for a POSIX shell: as it is when that is safe, else in single quotes.
pub(crate) fn shell_word(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c));
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Rows as columns padded to their widest cell; the last column is not padded.
pub(crate) fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            if column > 0 {
                line.push_str("  ");
            }
            if column + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}", width = widths[column]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `1 delivery`, `2 deliveries`.
pub(crate) fn deliveries(count: usize) -> String {
    match count {
        1 => "1 delivery".to_owned(),
        n => format!("{n} deliveries"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(clean("ok\x1b[2J\nnext"), "ok\\u{1b}[2J\\nnext");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let rows = vec![
            vec!["ID".into(), "URL".into()],
            vec!["ep_1234".into(), "http://x".into()],
        ];
        assert_eq!(table(&rows), "ID       URL\nep_1234  http://x\n");
    }

    #[test]
    fn shell_quoting_keeps_words_whole() {
        assert_eq!(shell_word("abc123"), "abc123");
        assert_eq!(shell_word("whsec_a+b/c="), "whsec_a+b/c=");
        assert_eq!(shell_word("my dir"), "'my dir'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }
}
