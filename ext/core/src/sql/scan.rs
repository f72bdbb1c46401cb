//! Byte-level scanners: each takes the input and a start offset and returns where the
//! construct ends. They never index out of bounds: reads past the end see `0`, which is
//! in none of the character classes below.

/// The byte at `i`, or `0` past the end.
#[inline]
pub(super) fn at(bytes: &[u8], i: usize) -> u8 {
    bytes.get(i).copied().unwrap_or(0)
}

#[inline]
pub(super) fn is_space(b: u8) -> bool {
    // All ASCII control characters count as whitespace: they are not valid SQL tokens, and
    // treating them as separators can never glue a literal to its neighbour.
    b == b' ' || (b < 0x20 && b != 0) || b == 0x7f
}

#[inline]
pub(super) fn is_digit(b: u8) -> bool {
    b.is_ascii_digit()
}

/// Start of an unquoted identifier or keyword. Bytes >= 0x80 are parts of multi-byte UTF-8
/// characters; PostgreSQL and MySQL both accept them in identifiers.
#[inline]
pub(super) fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

#[inline]
pub(super) fn is_word_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// End of a run of word characters starting at `start`.
pub(super) fn word_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while is_word_char(at(bytes, i)) {
        i += 1;
    }
    i
}

/// End of a `--` or `#` comment: the end of the line (the newline itself is left as whitespace).
pub(super) fn line_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while i < bytes.len() && at(bytes, i) != b'\n' && at(bytes, i) != b'\r' {
        i += 1;
    }
    i
}

/// End of a `/* ... */` comment starting at `start` (which points at the `/`). PostgreSQL
/// nests block comments; MySQL and the SQL standard do not. An unterminated comment runs to
/// the end of the input: it is dropped, so nothing in it can leak.
pub(super) fn block_comment_end(bytes: &[u8], start: usize, nested: bool) -> usize {
    let mut depth = 1usize;
    let mut i = start + 2;
    while i < bytes.len() {
        let b = at(bytes, i);
        if b == b'*' && at(bytes, i + 1) == b'/' {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else if nested && b == b'/' && at(bytes, i + 1) == b'*' {
            depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// How backslashes behave inside a quoted literal.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Escapes {
    /// Standard SQL: only a doubled quote escapes; a backslash is an ordinary character.
    Standard,
    /// MySQL strings and PostgreSQL `E'...'`: a backslash escapes the next character.
    Backslash,
    /// Dialect unknown: standard rules, but a quote preceded by an odd run of backslashes
    /// could close the literal or not, depending on the server. The scan reports it.
    Ambiguous,
}

/// Result of scanning a quoted token.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Quoted {
    /// Offset just past the closing quote.
    Closed(usize),
    /// No closing quote before the end of the input.
    Unterminated,
    /// Could not tell where the literal ends (see [`Escapes::Ambiguous`]).
    Ambiguous,
}

/// Scan a token quoted with `quote`, where `open` is the offset of the opening quote.
/// A doubled quote is an escaped quote in every dialect.
pub(super) fn quoted_end(bytes: &[u8], open: usize, quote: u8, escapes: Escapes) -> Quoted {
    let mut i = open + 1;
    let mut backslashes = 0usize;
    while i < bytes.len() {
        let b = at(bytes, i);
        if b == b'\\' {
            match escapes {
                Escapes::Backslash => {
                    i += 2;
                    continue;
                }
                Escapes::Ambiguous => backslashes += 1,
                Escapes::Standard => {}
            }
            i += 1;
            continue;
        }
        if b == quote {
            if escapes == Escapes::Ambiguous && backslashes % 2 == 1 {
                return Quoted::Ambiguous;
            }
            if at(bytes, i + 1) == quote {
                i += 2;
                backslashes = 0;
                continue;
            }
            return Quoted::Closed(i + 1);
        }
        backslashes = 0;
        i += 1;
    }
    Quoted::Unterminated
}

/// If a PostgreSQL dollar-quote delimiter (`$$` or `$tag$`) starts at `start`, the offset
/// just past it. Tags follow identifier rules and cannot start with a digit.
pub(super) fn dollar_tag_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    if at(bytes, i) == b'$' {
        return Some(i + 1);
    }
    if !is_word_start(at(bytes, i)) {
        return None;
    }
    while at(bytes, i) != b'$' {
        let b = at(bytes, i);
        if !(b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80) {
            return None;
        }
        i += 1;
    }
    Some(i + 1)
}

/// End of a number starting at `start` (a digit, or a `.` followed by a digit): integers with
/// optional `_` separators, decimals, exponents, and `0x`/`0b`/`0o` prefixed integers.
///
/// MySQL also accepts identifiers that start with digits (`1st_table`), but they cannot be
/// told from a number glued to a keyword (`=7391AND`), so the digits are always a literal.
pub(super) fn number_end(bytes: &[u8], start: usize) -> usize {
    radix_literal_end(bytes, start).unwrap_or_else(|| decimal_end(bytes, start))
}

fn radix_literal_end(bytes: &[u8], start: usize) -> Option<usize> {
    if at(bytes, start) != b'0' {
        return None;
    }
    let accepts: fn(u8) -> bool = match at(bytes, start + 1) {
        b'x' | b'X' => |b| b.is_ascii_hexdigit(),
        b'b' | b'B' => |b| b == b'0' || b == b'1',
        b'o' | b'O' => |b| (b'0'..=b'7').contains(&b),
        _ => return None,
    };
    let mut i = start + 2;
    if !accepts(at(bytes, i)) {
        return None;
    }
    while accepts(at(bytes, i)) || (at(bytes, i) == b'_' && accepts(at(bytes, i + 1))) {
        i += 1;
    }
    Some(i)
}

fn decimal_end(bytes: &[u8], start: usize) -> usize {
    let mut i = digits_end(bytes, start);
    if at(bytes, i) == b'.' {
        let next = at(bytes, i + 1);
        if is_digit(next) {
            i = digits_end(bytes, i + 1);
        } else if !is_word_char(next) && next != b'.' {
            // `1.` is a complete numeric literal; `1.e5` is handled below.
            i += 1;
        } else if (next == b'e' || next == b'E') && exponent_end(bytes, i + 1).is_some() {
            i += 1;
        }
    }
    exponent_end(bytes, i).unwrap_or(i)
}

fn digits_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while is_digit(at(bytes, i)) || (at(bytes, i) == b'_' && is_digit(at(bytes, i + 1))) {
        i += 1;
    }
    i
}

fn exponent_end(bytes: &[u8], e: usize) -> Option<usize> {
    if !matches!(at(bytes, e), b'e' | b'E') {
        return None;
    }
    let mut i = e + 1;
    if matches!(at(bytes, i), b'+' | b'-') {
        i += 1;
    }
    if !is_digit(at(bytes, i)) {
        return None;
    }
    Some(digits_end(bytes, i))
}

/// If a parenthesised list of integers (a type modifier such as `(10, 2)`) starts at
/// `start` after optional whitespace, the offsets of its `(` and just past its `)`.
pub(super) fn type_modifier(bytes: &[u8], start: usize) -> Option<(usize, usize)> {
    let mut i = start;
    while is_space(at(bytes, i)) {
        i += 1;
    }
    let open = i;
    if at(bytes, open) != b'(' {
        return None;
    }
    i += 1;
    let mut saw_digit = false;
    loop {
        let b = at(bytes, i);
        if is_digit(b) {
            saw_digit = true;
        } else if b == b')' {
            return saw_digit.then_some((open, i + 1));
        } else if !(b == b',' || is_space(b)) {
            return None;
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_handles_doubling_and_backslashes() {
        let s = b"'a''b' x";
        assert_eq!(
            quoted_end(s, 0, b'\'', Escapes::Standard),
            Quoted::Closed(6)
        );
        let s = br"'a\'b' x";
        assert_eq!(
            quoted_end(s, 0, b'\'', Escapes::Backslash),
            Quoted::Closed(6)
        );
        assert_eq!(
            quoted_end(s, 0, b'\'', Escapes::Standard),
            Quoted::Closed(4)
        );
        assert_eq!(
            quoted_end(s, 0, b'\'', Escapes::Ambiguous),
            Quoted::Ambiguous
        );
        let s = br"'a\\' x";
        assert_eq!(
            quoted_end(s, 0, b'\'', Escapes::Ambiguous),
            Quoted::Closed(5)
        );
        assert_eq!(
            quoted_end(b"'abc", 0, b'\'', Escapes::Standard),
            Quoted::Unterminated
        );
        assert_eq!(
            quoted_end(b"'a\\", 0, b'\'', Escapes::Backslash),
            Quoted::Unterminated
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(number_end(b"123 ", 0), 3);
        assert_eq!(number_end(b"1.5e-3)", 0), 6);
        assert_eq!(number_end(b".5", 0), 2);
        assert_eq!(number_end(b"1.", 0), 2);
        assert_eq!(number_end(b"1.e5", 0), 4);
        assert_eq!(number_end(b"0x1F ", 0), 4);
        assert_eq!(number_end(b"0xg", 0), 1);
        assert_eq!(number_end(b"1_000", 0), 5);
        assert_eq!(number_end(b"12abc", 0), 2);
        assert_eq!(number_end(b"1e", 0), 1);
    }

    #[test]
    fn dollar_tags() {
        assert_eq!(dollar_tag_end(b"$$x$$", 0), Some(2));
        assert_eq!(dollar_tag_end(b"$fn$x$fn$", 0), Some(4));
        assert_eq!(dollar_tag_end(b"$1", 0), None);
        assert_eq!(dollar_tag_end(b"$a b$", 0), None);
        assert_eq!(dollar_tag_end(b"$abc", 0), None);
    }

    #[test]
    fn type_modifiers() {
        assert_eq!(type_modifier(b"(10, 2)x", 0), Some((0, 7)));
        assert_eq!(type_modifier(b" (255)", 0), Some((1, 6)));
        assert_eq!(type_modifier(b"(a)", 0), None);
        assert_eq!(type_modifier(b"()", 0), None);
        assert_eq!(type_modifier(b"(1", 0), None);
    }
}
