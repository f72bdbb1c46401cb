//! The single pass: read tokens left to right, copy structure, write `?` for literals.

use super::collapse::{ListCollapse, RowEvent, ValuesCollapse};
use super::keywords::{classify, Keyword, Word};
use super::scan::{self, at, Escapes, Quoted};
use super::Dialect;

/// The token before the current one, as far as the obfuscator cares.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Prev {
    Start,
    /// Something that ends an expression: identifier, literal, placeholder, `)`, `]`.
    Operand,
    Operator,
    Open,
    Comma,
    Dot,
    /// `::`
    Cast,
    Keyword(Keyword),
}

/// A bracket that, if it comes next, opens a collapsible list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expect {
    Nothing,
    List(u8),
    Rows,
}

pub(super) fn run(sql: &str, dialect: Dialect, out: &mut String) {
    out.clear();
    out.reserve(sql.len());
    let mut pass = Pass {
        sql,
        bytes: sql.as_bytes(),
        dialect,
        out,
        pos: 0,
        space: false,
        prev: Prev::Start,
        expect: Expect::Nothing,
        level: 0,
        list: None,
        rows: None,
    };
    pass.run();
}

struct Pass<'s, 'o> {
    sql: &'s str,
    bytes: &'s [u8],
    dialect: Dialect,
    out: &'o mut String,
    pos: usize,
    /// Whitespace or a comment was skipped since the last token written.
    space: bool,
    prev: Prev,
    expect: Expect,
    /// Bracket nesting level: `(` and `[` together.
    level: usize,
    list: Option<ListCollapse>,
    rows: Option<ValuesCollapse>,
}

impl Pass<'_, '_> {
    fn run(&mut self) {
        while self.pos < self.bytes.len() {
            let b = at(self.bytes, self.pos);
            let next = at(self.bytes, self.pos + 1);
            match b {
                _ if scan::is_space(b) => {
                    self.space = true;
                    self.pos += 1;
                }
                b'-' if next == b'-' && self.dash_dash_is_comment() => self.line_comment(),
                b'#' if self.dialect == Dialect::MySql => self.line_comment(),
                b'/' if next == b'*' => {
                    let nested = self.dialect == Dialect::Postgres;
                    self.pos = scan::block_comment_end(self.bytes, self.pos, nested);
                    self.space = true;
                }
                b'\'' => self.quoted_literal(self.pos, self.default_escapes()),
                b'"' => self.double_quoted(),
                b'`' => self.quoted_identifier(b'`', Escapes::Standard),
                b'0'..=b'9' => self.number(self.pos),
                b'.' if scan::is_digit(next) && self.prev != Prev::Operand => self.number(self.pos),
                b'-' | b'+' if self.is_sign() => self.number(self.pos + 1),
                b'$' => self.dollar(),
                b'?' => {
                    let end = digits_end(self.bytes, self.pos + 1);
                    self.value(self.pos, end);
                }
                b'(' | b'[' => self.open_bracket(b),
                b')' | b']' => self.close_bracket(b),
                b',' => self.comma(),
                b';' => {
                    self.punctuation(1, Prev::Start);
                    self.end_statement();
                }
                b':' if next == b':' => self.punctuation(2, Prev::Cast),
                b'.' => self.punctuation(1, Prev::Dot),
                _ if scan::is_word_start(b) => self.word(),
                _ => self.punctuation(1, Prev::Operator),
            }
        }
    }

    fn default_escapes(&self) -> Escapes {
        match self.dialect {
            Dialect::Postgres => Escapes::Standard,
            Dialect::MySql => Escapes::Backslash,
            Dialect::Generic => Escapes::Ambiguous,
        }
    }

    /// MySQL needs whitespace after `--` for a comment: `a--1` is `a - -1` there.
    fn dash_dash_is_comment(&self) -> bool {
        if self.dialect != Dialect::MySql {
            return true;
        }
        let after = self.pos + 2;
        after >= self.bytes.len() || scan::is_space(at(self.bytes, after))
    }

    fn line_comment(&mut self) {
        self.pos = scan::line_comment_end(self.bytes, self.pos);
        self.space = true;
    }

    /// Whether a `-` or `+` here is the sign of a following number rather than an operator.
    fn is_sign(&self) -> bool {
        let next = at(self.bytes, self.pos + 1);
        let starts_number =
            scan::is_digit(next) || (next == b'.' && scan::is_digit(at(self.bytes, self.pos + 2)));
        starts_number
            && matches!(
                self.prev,
                Prev::Start | Prev::Operator | Prev::Open | Prev::Comma | Prev::Keyword(_)
            )
    }

    /// Whether `NULL` here stands for a value, as in `= NULL` or `VALUES (NULL)`, rather than
    /// being part of `IS NULL`, `NOT NULL` or `DEFAULT NULL`.
    fn null_is_value(&self) -> bool {
        matches!(
            self.prev,
            Prev::Start
                | Prev::Operator
                | Prev::Open
                | Prev::Comma
                | Prev::Keyword(
                    Keyword::NullIsValue | Keyword::Values | Keyword::In | Keyword::Like
                )
        )
    }

    // ---- literals -------------------------------------------------------------------------

    /// A quoted literal whose opening quote is at `quote`; the token began at `self.pos`
    /// (earlier than `quote` when it has a prefix such as `E` or `_utf8mb4`).
    fn quoted_literal(&mut self, quote: usize, escapes: Escapes) {
        let quote_char = at(self.bytes, quote);
        let end = match scan::quoted_end(self.bytes, quote, quote_char, escapes) {
            Quoted::Closed(end) => end,
            // Where the literal ends is unknown: everything after its start may be data.
            Quoted::Unterminated | Quoted::Ambiguous => self.bytes.len(),
        };
        self.literal(end);
    }

    fn double_quoted(&mut self) {
        match self.dialect {
            Dialect::MySql => self.quoted_literal(self.pos, Escapes::Backslash),
            Dialect::Postgres => self.quoted_identifier(b'"', Escapes::Standard),
            Dialect::Generic => {
                // Standard SQL quotes identifiers with `"`, but MySQL-style SQL uses it for
                // strings. In a position where only a value makes sense, treat it as one.
                let looks_like_value =
                    matches!(self.prev, Prev::Operator | Prev::Keyword(Keyword::Like))
                        || self.list.is_some();
                match scan::quoted_end(self.bytes, self.pos, b'"', Escapes::Ambiguous) {
                    Quoted::Closed(end) if !looks_like_value || at(self.bytes, end) == b'.' => {
                        self.other(self.pos, end, Prev::Operand)
                    }
                    Quoted::Closed(end) => self.literal(end),
                    Quoted::Unterminated | Quoted::Ambiguous => self.literal(self.bytes.len()),
                }
            }
        }
    }

    fn quoted_identifier(&mut self, quote: u8, escapes: Escapes) {
        match scan::quoted_end(self.bytes, self.pos, quote, escapes) {
            Quoted::Closed(end) => self.other(self.pos, end, Prev::Operand),
            // An unterminated identifier swallows the rest of the statement, literals included.
            Quoted::Unterminated | Quoted::Ambiguous => self.literal(self.bytes.len()),
        }
    }

    fn number(&mut self, start: usize) {
        self.literal(scan::number_end(self.bytes, start));
    }

    fn dollar(&mut self) {
        let start = self.pos;
        let next = at(self.bytes, start + 1);
        if self.dialect == Dialect::MySql {
            // `$` is an identifier character in MySQL.
            let end = scan::word_end(self.bytes, start + 1);
            return self.other(start, end, Prev::Operand);
        }
        if scan::is_digit(next) {
            let end = digits_end(self.bytes, start + 1);
            return self.value(start, end);
        }
        if let Some(tag_end) = scan::dollar_tag_end(self.bytes, start) {
            let body_end = self
                .sql
                .get(start..tag_end)
                .zip(self.sql.get(tag_end..))
                .and_then(|(tag, rest)| rest.find(tag).map(|found| tag_end + found + tag.len()));
            return self.literal(body_end.unwrap_or(self.bytes.len()));
        }
        if self.dialect == Dialect::Generic && scan::is_word_start(next) {
            // SQLite's `$name` parameter.
            let end = scan::word_end(self.bytes, start + 1);
            return self.value(start, end);
        }
        self.punctuation(1, Prev::Operator);
    }

    // ---- words ----------------------------------------------------------------------------

    fn word(&mut self) {
        let start = self.pos;
        let end = scan::word_end(self.bytes, start);
        let word = self.bytes.get(start..end).unwrap_or_default();
        let after = at(self.bytes, end);
        if after == b'\'' {
            if let Some(escapes) = self.string_prefix(word) {
                return self.quoted_literal(end, escapes);
            }
        }
        if after == b'&'
            && at(self.bytes, end + 1) == b'\''
            && self.dialect != Dialect::MySql
            && word.eq_ignore_ascii_case(b"u")
        {
            // U&'d\0061t\+000061': standard escaping, with Unicode escapes inside.
            return self.quoted_literal(end + 1, Escapes::Standard);
        }
        match classify(word) {
            Word::Boolean => self.literal(end),
            Word::Null if self.null_is_value() => self.literal(end),
            Word::Null => self.other(start, end, Prev::Operand),
            Word::Keyword(keyword) => {
                self.other(start, end, Prev::Keyword(keyword));
                self.expect = match keyword {
                    Keyword::In => Expect::List(b'('),
                    Keyword::Array => Expect::List(b'['),
                    Keyword::Values => Expect::Rows,
                    _ => Expect::Nothing,
                };
            }
            Word::Other => {
                let type_context = matches!(self.prev, Prev::Cast | Prev::Keyword(Keyword::As));
                self.other(start, end, Prev::Operand);
                if type_context {
                    self.type_modifier();
                }
            }
        }
    }

    /// Escaping rules of a literal introduced by `word` directly before a `'`, if `word` is
    /// such a prefix: `E'..'`, `N'..'`, `X'..'`, `B'..'`, MySQL's `_utf8mb4'..'`.
    fn string_prefix(&self, word: &[u8]) -> Option<Escapes> {
        match word {
            [b'e' | b'E'] if self.dialect != Dialect::MySql => Some(Escapes::Backslash),
            [b'n' | b'N' | b'x' | b'X' | b'b' | b'B'] => Some(self.default_escapes()),
            [b'_', _, ..] if self.dialect == Dialect::MySql => Some(Escapes::Backslash),
            _ => None,
        }
    }

    /// After a type name in a cast, keep its modifiers: `::numeric(10, 2)`, `AS varchar(255)`.
    fn type_modifier(&mut self) {
        let Some((open, close)) = scan::type_modifier(self.bytes, self.pos) else {
            return;
        };
        if open > self.pos {
            self.out.push(' ');
        }
        let mut in_space = false;
        for &b in self.bytes.get(open..close).unwrap_or_default() {
            if scan::is_space(b) {
                in_space = true;
                continue;
            }
            if in_space {
                self.out.push(' ');
                in_space = false;
            }
            self.out.push(char::from(b));
        }
        self.pos = close;
        self.prev = Prev::Operand;
    }

    // ---- brackets and lists ---------------------------------------------------------------

    fn open_bracket(&mut self, bracket: u8) {
        let expect = std::mem::replace(&mut self.expect, Expect::Nothing);
        self.separate();
        let start = self.out.len();
        self.level += 1;
        if let Some(rows) = &mut self.rows {
            if rows.open_bracket(self.level, start) == RowEvent::Done {
                self.rows = None;
            }
        }
        self.out.push(char::from(bracket));
        match expect {
            Expect::List(open) if open == bracket => {
                self.list = Some(ListCollapse::open(self.out.len(), self.level));
            }
            Expect::Rows if bracket == b'(' => {
                self.rows = Some(ValuesCollapse::open(self.level, start));
            }
            _ => {}
        }
        self.prev = Prev::Open;
        self.pos += 1;
    }

    fn close_bracket(&mut self, bracket: u8) {
        self.expect = Expect::Nothing;
        let level = self.level;
        if let Some(list) = self.list {
            if let Some(collapse_to) = list.closes_at(level) {
                self.list = None;
                if let Some(body_start) = collapse_to {
                    truncate(self.out, body_start);
                    self.out.push('?');
                    self.space = false;
                }
            }
        }
        self.separate();
        self.out.push(char::from(bracket));
        if let Some(rows) = &mut self.rows {
            if let Some(keep) = rows.close_bracket(level, self.out, self.out.len()) {
                truncate(self.out, keep);
            }
        }
        self.level = level.saturating_sub(1);
        self.prev = Prev::Operand;
        self.pos += 1;
    }

    fn comma(&mut self) {
        self.expect = Expect::Nothing;
        self.separate();
        self.out.push(',');
        if let Some(rows) = &mut self.rows {
            if rows.comma() == RowEvent::Done {
                self.rows = None;
            }
        }
        self.prev = Prev::Comma;
        self.pos += 1;
    }

    fn end_statement(&mut self) {
        self.level = 0;
        self.list = None;
        self.rows = None;
        self.expect = Expect::Nothing;
    }

    // ---- output ---------------------------------------------------------------------------

    /// Write the single space standing for skipped whitespace and comments, if any.
    fn separate(&mut self) {
        if self.space && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.space = false;
    }

    /// A literal ending at `end`: written as `?`.
    fn literal(&mut self, end: usize) {
        self.expect = Expect::Nothing;
        self.separate();
        self.out.push('?');
        self.after_value(end);
    }

    /// A placeholder `[start, end)`: copied, and counted as a value for list collapsing.
    fn value(&mut self, start: usize, end: usize) {
        self.expect = Expect::Nothing;
        self.separate();
        self.push_source(start, end);
        self.after_value(end);
    }

    fn after_value(&mut self, end: usize) {
        if let Some(list) = &mut self.list {
            list.saw_value();
        }
        self.after_token(end, Prev::Operand);
    }

    /// Any other token `[start, end)`: copied; it ends any list collapse in progress.
    fn other(&mut self, start: usize, end: usize, prev: Prev) {
        self.expect = Expect::Nothing;
        self.separate();
        self.push_source(start, end);
        self.list = None;
        self.after_token(end, prev);
    }

    /// `len` ASCII punctuation bytes at the current position.
    fn punctuation(&mut self, len: usize, prev: Prev) {
        self.other(self.pos, self.pos + len, prev);
    }

    fn after_token(&mut self, end: usize, prev: Prev) {
        if let Some(rows) = &self.rows {
            if rows.other_token() == RowEvent::Done {
                self.rows = None;
            }
        }
        self.prev = prev;
        self.pos = end.max(self.pos + 1);
    }

    fn push_source(&mut self, start: usize, end: usize) {
        match self.sql.get(start..end) {
            Some(text) => self.out.push_str(text),
            // Not on a character boundary: cannot happen, as tokens end at ASCII bytes or at
            // the end of the input. If it ever did, write nothing that could be data.
            None => self.out.push('?'),
        }
    }
}

fn digits_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start;
    while scan::is_digit(at(bytes, i)) {
        i += 1;
    }
    i
}

fn truncate(out: &mut String, len: usize) {
    if out.is_char_boundary(len) {
        out.truncate(len);
    }
}
