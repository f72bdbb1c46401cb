//! SQL obfuscation: every literal in a query becomes `?` before the query leaves the process.
//!
//! One pass over the bytes, no regular expressions, no allocation beyond the output buffer.
//! The obfuscator is a lexer, not a parser: it never fails, and where it cannot tell what
//! a piece of text is, it replaces it (an unterminated literal swallows the rest of the
//! query into one `?`).
//!
//! # What becomes `?`
//! - String literals: `'..'` (with `''`), `E'..'` (backslash escapes), `N'..'`, `X'..'`,
//!   `B'..'`, `U&'..'`, PostgreSQL `$$..$$` / `$tag$..$tag$`; in MySQL also `".."` and
//!   backslash escapes in both quote styles, and charset introducers (`_utf8mb4'..'`).
//! - Numbers: integers, decimals, exponents, `0x..`/`0b..`/`0o..`, and a leading `-`/`+`
//!   where it is a sign (`= -1`, `(-1`, `LIMIT -1`) rather than an operator (`a-1` →
//!   `a-?`).
//! - `TRUE` and `FALSE`, always.
//! - `NULL` where it stands for a value: after an operator, `(`, `,`, `SELECT`, `THEN`,
//!   `ELSE`, `WHEN`, `AND`, `OR`, ... (`SET a = NULL` → `SET a = ?`, `VALUES (NULL, 1)` →
//!   `VALUES (?, ?)`). It stays in `IS NULL`, `IS NOT NULL`, `NOT NULL`, `DEFAULT NULL` and
//!   `SET NULL`, where it is syntax. This follows AppSignal's `sql_lexer`, which replaces
//!   NULL in value positions only, and keeps `x IS NULL` distinct from `x = ?`.
//!
//! # What collapses
//! - `IN (...)` and `ARRAY[...]` holding only literals and placeholders (tuples of them too)
//!   become `IN (?)` and `ARRAY[?]`: `IN (1, 2)`, `IN ($1, $2, $3)` and
//!   `IN ((1, 'a'), (2, 'b'))` all read `IN (?)`. Lists containing anything else (a
//!   column, a function call, a subquery) keep their shape, with literals replaced.
//! - Rows of a `VALUES` list: after obfuscation, a row whose text equals an earlier row's is
//!   dropped with its comma, so `VALUES (1, 'a'), (2, 'b')` reads `VALUES (?, ?)` whatever
//!   the row count. Rows of different shapes, such as `(?, DEFAULT)` next to `(?, ?)`, are
//!   all kept.
//!
//! # What is kept
//! Identifiers (quoted, backticked, or with digits such as `table1`), keywords, operators,
//! placeholders (`$1`, `?`, `?1`, `:name`, `@var`), cast types with their modifiers
//! (`'a'::varchar(10)` → `?::varchar(10)`). Comments (`--`, `/* */`, MySQL `#`) are
//! removed, and every run of whitespace or comments becomes a single space.
//!
//! # Dialects
//! - [`Dialect::Postgres`]: `"..."` is an identifier; `'...'` follows
//!   `standard_conforming_strings` (a backslash is an ordinary character); block comments
//!   nest; `#` is an operator (`#>>`).
//! - [`Dialect::MySql`]: `"..."` is a string (no `ANSI_QUOTES`); backslashes escape (no
//!   `NO_BACKSLASH_ESCAPES`); `--` needs whitespace after it; `#` starts a comment.
//!   Identifiers starting with digits (`1st_col`) lose their digits (`?st_col`): they
//!   cannot be told apart from a number glued to a keyword.
//! - [`Dialect::Generic`] (SQLite, unknown adapters): standard quoting, but a quote that a
//!   MySQL-style backslash might escape is treated as the end of certainty: the rest of the
//!   query becomes `?`. `"..."` is an identifier, except where only a value can stand (after
//!   an operator or `LIKE`, inside an `IN` list), where it is treated as a string.

mod collapse;
mod keywords;
mod obfuscator;
mod scan;

/// SQL dialect, which decides how quotes, backslashes and comments are read.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Dialect {
    Postgres,
    MySql,
    #[default]
    Generic,
}

/// Obfuscate `sql`, returning a new string. See the module documentation for the rules.
pub fn obfuscate(sql: &str, dialect: Dialect) -> String {
    let mut out = String::new();
    obfuscate_into(sql, dialect, &mut out);
    out
}

/// Obfuscate `sql` into `out`, replacing its previous contents. Reusing one buffer across
/// calls avoids an allocation per query. The result is never longer than `sql`.
pub fn obfuscate_into(sql: &str, dialect: Dialect, out: &mut String) {
    obfuscator::run(sql, dialect, out);
}
