//! The few words the obfuscator must recognise. Everything else is an identifier.

/// What an unquoted word means to the obfuscator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Word {
    /// `TRUE` / `FALSE`: a literal, always replaced.
    Boolean,
    /// `NULL`: replaced only where it stands for a value (see `Keyword::NullIsValue`).
    Null,
    Keyword(Keyword),
    /// Identifier, function name, type name, or a keyword that can end an expression.
    Other,
}

/// Keywords that change how the next token is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Keyword {
    /// `IN`: a following `( ... )` of literals collapses to `(?)`.
    In,
    /// `ARRAY`: a following `[ ... ]` of literals collapses to `[?]`.
    Array,
    /// `VALUES`: following rows with identical shapes collapse to one.
    Values,
    /// `LIKE` and friends: a following double-quoted token is a value in the generic dialect.
    Like,
    /// `AS`: a following type name keeps its modifiers, as in `CAST(x AS numeric(10, 2))`.
    As,
    /// A keyword after which `NULL` is a value (`SELECT NULL`, `THEN NULL`, `AND NULL`).
    NullIsValue,
    /// Any other keyword that expects an operand next, so that a following `-` is a sign.
    ExpectsOperand,
}

/// Longest word worth comparing against the keyword list.
const MAX_KEYWORD_LEN: usize = 9;

pub(super) fn classify(word: &[u8]) -> Word {
    if word.len() < 2 || word.len() > MAX_KEYWORD_LEN {
        return Word::Other;
    }
    let mut upper = [0u8; MAX_KEYWORD_LEN];
    for (dst, src) in upper.iter_mut().zip(word) {
        *dst = src.to_ascii_uppercase();
    }
    let upper = upper.get(..word.len()).unwrap_or_default();
    match upper {
        b"TRUE" | b"FALSE" => Word::Boolean,
        b"NULL" => Word::Null,
        b"IN" => Word::Keyword(Keyword::In),
        b"ARRAY" => Word::Keyword(Keyword::Array),
        b"VALUES" => Word::Keyword(Keyword::Values),
        b"LIKE" | b"ILIKE" | b"RLIKE" | b"REGEXP" | b"SIMILAR" => Word::Keyword(Keyword::Like),
        b"AS" => Word::Keyword(Keyword::As),
        b"SELECT" | b"THEN" | b"ELSE" | b"WHEN" | b"CASE" | b"AND" | b"OR" | b"BETWEEN"
        | b"RETURN" => Word::Keyword(Keyword::NullIsValue),
        b"WHERE" | b"NOT" | b"IS" | b"LIMIT" | b"OFFSET" | b"BY" | b"SET" | b"ON" | b"HAVING"
        | b"DEFAULT" | b"INTERVAL" | b"ANY" | b"ALL" | b"SOME" | b"EXISTS" | b"DISTINCT"
        | b"FROM" | b"INTO" | b"ESCAPE" | b"FETCH" | b"JOIN" | b"USING" | b"RETURNING"
        | b"WITH" | b"UNION" | b"EXCEPT" | b"INTERSECT" | b"XOR" | b"DIV" | b"MOD" | b"TO"
        | b"UPDATE" | b"ROWS" | b"LATERAL" => Word::Keyword(Keyword::ExpectsOperand),
        _ => Word::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive() {
        assert_eq!(classify(b"null"), Word::Null);
        assert_eq!(classify(b"NuLl"), Word::Null);
        assert_eq!(classify(b"tRuE"), Word::Boolean);
        assert_eq!(classify(b"in"), Word::Keyword(Keyword::In));
        assert_eq!(classify(b"values"), Word::Keyword(Keyword::Values));
    }

    #[test]
    fn identifiers_are_other() {
        assert_eq!(classify(b"nullif"), Word::Other);
        assert_eq!(classify(b"users"), Word::Other);
        assert_eq!(classify(b"a"), Word::Other);
        assert_eq!(classify(b"intersections"), Word::Other);
        assert_eq!(classify("naïve".as_bytes()), Word::Other);
    }
}
