//! Property tests: literal contents never survive obfuscation, queries that differ only in
//! literals obfuscate identically, and no input makes the obfuscator panic.

use appsignal_ext_core::sql::{obfuscate, obfuscate_into, Dialect};
use proptest::prelude::*;

/// Every generated literal carries this marker; it must never appear in the output.
const MARKER: &str = "zq1x";
/// Numeric literals carry this digit sequence instead.
const NUMERIC_MARKER: &str = "7391";

fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![
        Just(Dialect::Postgres),
        Just(Dialect::MySql),
        Just(Dialect::Generic)
    ]
}

/// Text to hide inside a literal: the marker among quotes, backslashes, dollar signs,
/// comment markers, unicode and newlines.
fn payload() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("'".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("$".to_string()),
        Just("$$".to_string()),
        Just("--".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("#".to_string()),
        Just("\n".to_string()),
        Just(" ".to_string()),
        Just("é🎉".to_string()),
        Just("IN (".to_string()),
        Just(")".to_string()),
        "[a-z0-9 ,;=]{0,6}",
    ];
    proptest::collection::vec(piece, 0..6).prop_map(|pieces| {
        let mut text = MARKER.to_string();
        for piece in pieces {
            text.push_str(&piece);
            text.push_str(MARKER);
        }
        text
    })
}

fn double(text: &str, quote: char) -> String {
    text.replace(quote, &format!("{quote}{quote}"))
}

fn backslash(text: &str, quote: char, double_quotes: bool) -> String {
    let escaped = text.replace('\\', "\\\\");
    if double_quotes {
        double(&escaped, quote)
    } else {
        escaped.replace(quote, &format!("\\{quote}"))
    }
}

/// A string literal holding `text`, quoted the way a client of `dialect` would quote it.
fn string_literal(dialect: Dialect, text: String, style: u8) -> String {
    match (dialect, style % 4) {
        (Dialect::Postgres, 0) | (Dialect::Generic, 0) => format!("'{}'", double(&text, '\'')),
        (Dialect::Postgres, 1) | (Dialect::Generic, 1) => {
            format!("E'{}'", backslash(&text, '\'', style > 127))
        }
        (Dialect::Postgres, _) | (Dialect::Generic, _) => {
            // Pick a tag that does not occur in the text, as a client would.
            let mut tag = String::from("t");
            while text.contains(&format!("${tag}$")) {
                tag.push('x');
            }
            if style.is_multiple_of(2) && !text.contains("$$") && !text.ends_with('$') {
                format!("$${text}$$")
            } else {
                format!("${tag}${text}${tag}$")
            }
        }
        (Dialect::MySql, 0) => format!("'{}'", backslash(&text, '\'', style > 127)),
        (Dialect::MySql, 1) => format!("\"{}\"", backslash(&text, '"', style > 127)),
        (Dialect::MySql, 2) => format!("_utf8mb4'{}'", backslash(&text, '\'', false)),
        (Dialect::MySql, _) => format!("N'{}'", backslash(&text, '\'', false)),
    }
}

fn numeric_literal() -> impl Strategy<Value = String> {
    let digits = "[0-9]{0,4}";
    (digits, digits, 0u8..8).prop_map(|(a, b, form)| match form {
        0 => format!("{NUMERIC_MARKER}{a}"),
        1 => format!("-{NUMERIC_MARKER}{a}"),
        2 => format!("{a}{NUMERIC_MARKER}.{b}"),
        3 => format!("-{NUMERIC_MARKER}.{b}e-{a}1"),
        4 => format!(".{NUMERIC_MARKER}{b}E+1"),
        5 => format!("0x{NUMERIC_MARKER}ABCDEF"),
        6 => format!("X'{NUMERIC_MARKER}{a}'"),
        _ => format!("1{NUMERIC_MARKER}.5e{a}2"),
    })
}

/// One literal, as it would be written in `dialect`.
fn literal(dialect: Dialect) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (payload(), any::<u8>()).prop_map(move |(text, style)| string_literal(dialect, text, style)),
        2 => numeric_literal(),
        1 => prop_oneof![Just("TRUE".to_string()), Just("false".to_string())],
    ]
}

/// Query templates; `{}` marks where literals go.
const TEMPLATES: &[&str] = &[
    "SELECT * FROM t WHERE a = {}",
    "SELECT * FROM t WHERE a = {} AND b <> {} OR c >= {}",
    "SELECT * FROM t WHERE a IN ({}, {}, {})",
    "SELECT * FROM t WHERE a NOT IN ({})",
    "INSERT INTO t (a, b) VALUES ({}, {}), ({}, {})",
    "UPDATE t SET a = {}, b = {} WHERE id = {}",
    "SELECT {}, {} FROM t",
    "SELECT * FROM t WHERE a LIKE {} ESCAPE {}",
    "SELECT f({}, {}) - {} FROM t",
    "SELECT * FROM t WHERE a BETWEEN {} AND {} LIMIT {} OFFSET {}",
    "SELECT CASE WHEN a = {} THEN {} ELSE {} END FROM t -- trailing comment\n",
    "SELECT * FROM t /* comment */ WHERE a = ({})",
    "SELECT * FROM t WHERE a = ANY(ARRAY[{}, {}])",
    "SELECT {} AS x; SELECT {}",
    "SELECT * FROM t WHERE a =({})AND b=({})",
];

/// A template filled with literals, the same template filled with `1`, and the dialect.
fn query() -> impl Strategy<Value = (String, String, Dialect)> {
    (dialect(), 0..TEMPLATES.len()).prop_flat_map(|(dialect, index)| {
        let template = TEMPLATES.get(index).copied().unwrap_or("{}");
        let holes = template.matches("{}").count();
        proptest::collection::vec(literal(dialect), holes).prop_map(move |literals| {
            let mut filled = template.to_string();
            let mut plain = template.to_string();
            for literal in &literals {
                filled = filled.replacen("{}", literal, 1);
                plain = plain.replacen("{}", "1", 1);
            }
            (filled, plain, dialect)
        })
    })
}

/// Inputs made mostly of characters that matter to the lexer.
fn sqlish() -> impl Strategy<Value = String> {
    "['\"`$\\\\\\-/*#().,;:?\\[\\]=<>+ \n\t0-9a-fxeEnN_é🎉]{0,64}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn literal_contents_never_survive((sql, _, dialect) in query()) {
        let out = obfuscate(&sql, dialect);
        prop_assert!(!out.contains(MARKER), "{dialect:?}: {sql:?} -> {out:?}");
        prop_assert!(!out.contains(NUMERIC_MARKER), "{dialect:?}: {sql:?} -> {out:?}");
    }

    #[test]
    fn queries_differing_only_in_literals_are_identical((sql, plain, dialect) in query()) {
        // Generic SQL gives up (rest of the query becomes `?`) at a backslash before a quote.
        prop_assume!(!(dialect == Dialect::Generic && sql.contains('\\')));
        prop_assert_eq!(obfuscate(&sql, dialect), obfuscate(&plain, dialect), "{:?}", sql);
    }

    #[test]
    fn never_panics_on_arbitrary_strings(sql in any::<String>(), dialect in dialect()) {
        let out = obfuscate(&sql, dialect);
        prop_assert!(out.len() <= sql.len());
    }

    #[test]
    fn never_panics_on_arbitrary_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        dialect in dialect(),
    ) {
        let sql = String::from_utf8_lossy(&bytes);
        let out = obfuscate(&sql, dialect);
        prop_assert!(out.len() <= sql.len());
    }

    #[test]
    fn never_panics_on_sql_like_noise(sql in sqlish(), dialect in dialect()) {
        let out = obfuscate(&sql, dialect);
        prop_assert!(out.len() <= sql.len());
        prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
    }

    #[test]
    fn reused_buffer_gives_the_same_result(a in sqlish(), b in sqlish(), dialect in dialect()) {
        let mut buffer = String::new();
        obfuscate_into(&a, dialect, &mut buffer);
        obfuscate_into(&b, dialect, &mut buffer);
        prop_assert_eq!(buffer, obfuscate(&b, dialect));
    }
}

#[test]
fn huge_inputs_do_not_panic() {
    let unterminated = format!("SELECT '{}", "x".repeat(1 << 20));
    assert_eq!(obfuscate(&unterminated, Dialect::Postgres), "SELECT ?");
    let values = format!(
        "INSERT INTO t VALUES {}",
        vec!["(1, 'a')"; 100_000].join(", ")
    );
    assert_eq!(
        obfuscate(&values, Dialect::MySql),
        "INSERT INTO t VALUES (?, ?)"
    );
    let list = format!(
        "SELECT * FROM t WHERE id IN ({})",
        vec!["1"; 100_000].join(",")
    );
    assert_eq!(
        obfuscate(&list, Dialect::Generic),
        "SELECT * FROM t WHERE id IN (?)"
    );
    let nested = "(".repeat(100_000);
    assert_eq!(obfuscate(&nested, Dialect::Postgres), nested);
    let comments = "/*".repeat(50_000);
    assert_eq!(obfuscate(&comments, Dialect::Postgres), "");
}

#[test]
fn control_characters_are_whitespace_and_nul_is_punctuation() {
    assert_eq!(
        obfuscate("SELECT\0'a'\x01FROM\x7ft", Dialect::Postgres),
        "SELECT\0? FROM t"
    );
}
