//! Runs every case in `fixtures/sql/corpus.txt` and reports all mismatches at once.
//!
//! Fixture format: a case starts with `### <dialects> [description]`, where `<dialects>` is
//! `pg`, `mysql`, `generic`, or several joined with `,`, or `all`. The input is every line up
//! to a line reading `>>>`; the expected output is every line after it up to the next case
//! (trailing blank lines dropped). Lines starting with `#!` are notes, wherever they are.

use appsignal_ext_core::sql::{obfuscate, Dialect};

const CORPUS: &str = include_str!("fixtures/sql/corpus.txt");
const MIN_CASES: usize = 200;

struct Case {
    line: usize,
    header: String,
    dialects: Vec<Dialect>,
    input: String,
    expected: String,
}

fn parse_dialects(spec: &str, line: usize) -> Vec<Dialect> {
    let mut dialects = Vec::new();
    for name in spec.split(',') {
        match name {
            "pg" => dialects.push(Dialect::Postgres),
            "mysql" => dialects.push(Dialect::MySql),
            "generic" => dialects.push(Dialect::Generic),
            "all" => dialects.extend([Dialect::Postgres, Dialect::MySql, Dialect::Generic]),
            other => panic!("corpus.txt:{line}: unknown dialect {other:?}"),
        }
    }
    dialects
}

fn parse(corpus: &str) -> Vec<Case> {
    let mut cases: Vec<Case> = Vec::new();
    let mut input: Option<Vec<&str>> = None;
    let mut expected: Option<Vec<&str>> = None;
    let finish = |cases: &mut Vec<Case>, input: Option<Vec<&str>>, expected: Option<Vec<&str>>| {
        let Some(case) = cases.last_mut() else { return };
        let input = input.unwrap_or_else(|| panic!("corpus.txt:{}: no input", case.line));
        let mut expected =
            expected.unwrap_or_else(|| panic!("corpus.txt:{}: no `>>>` line", case.line));
        while expected.last().is_some_and(|l| l.trim().is_empty()) {
            expected.pop();
        }
        case.input = input.join("\n");
        case.expected = expected.join("\n");
    };
    for (index, line) in corpus.lines().enumerate() {
        if line.starts_with("#!") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("### ") {
            finish(&mut cases, input.take(), expected.take());
            let (spec, _) = rest.split_once(' ').unwrap_or((rest, ""));
            cases.push(Case {
                line: index + 1,
                header: rest.to_string(),
                dialects: parse_dialects(spec, index + 1),
                input: String::new(),
                expected: String::new(),
            });
            input = Some(Vec::new());
        } else if line == ">>>" && expected.is_none() && input.is_some() {
            expected = Some(Vec::new());
        } else if let Some(lines) = expected.as_mut() {
            lines.push(line);
        } else if let Some(lines) = input.as_mut() {
            lines.push(line);
        } else {
            assert!(
                line.is_empty(),
                "corpus.txt:{}: text outside a case: {line:?}",
                index + 1
            );
        }
    }
    finish(&mut cases, input, expected);
    cases
}

#[test]
fn corpus_matches_expected_output() {
    let cases = parse(CORPUS);
    assert!(
        cases.len() >= MIN_CASES,
        "corpus has {} cases, want at least {MIN_CASES}",
        cases.len()
    );
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in &cases {
        for &dialect in &case.dialects {
            runs += 1;
            let actual = obfuscate(&case.input, dialect);
            if actual != case.expected {
                failures.push(format!(
                    "corpus.txt:{} [{dialect:?}] {}\n   input: {:?}\nexpected: {:?}\n  actual: {:?}",
                    case.line, case.header, case.input, case.expected, actual
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {runs} corpus runs failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Obfuscated output is a fixed point: feeding it back in changes nothing. This keeps
/// grouping stable if a query is ever obfuscated twice (by the ORM and by us).
#[test]
fn corpus_outputs_are_fixed_points() {
    let mut failures = Vec::new();
    for case in parse(CORPUS) {
        for &dialect in &case.dialects {
            let again = obfuscate(&case.expected, dialect);
            if again != case.expected {
                failures.push(format!(
                    "corpus.txt:{} [{dialect:?}]\n  once: {:?}\n twice: {:?}",
                    case.line, case.expected, again
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
