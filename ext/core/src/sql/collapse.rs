//! Collapsing of variable-length literal lists, so that queries differing only in how many
//! values they carry produce the same text.
//!
//! Both trackers work on offsets into the output being written: collapsing is a truncation
//! of text already emitted, so the main pass stays single-pass and allocation-free.

use super::scan::is_word_char;

/// An `IN ( ... )` or `ARRAY[ ... ]` list that may still turn out to hold only literals and
/// placeholders (tuples of them included, as in `IN ((1, 2), (3, 4))`).
#[derive(Clone, Copy, Debug)]
pub(super) struct ListCollapse {
    /// Output offset just past the opening bracket.
    body_start: usize,
    /// Nesting level of the opening bracket.
    level: usize,
    has_value: bool,
}

impl ListCollapse {
    pub(super) fn open(body_start: usize, level: usize) -> Self {
        ListCollapse {
            body_start,
            level,
            has_value: false,
        }
    }

    pub(super) fn saw_value(&mut self) {
        self.has_value = true;
    }

    /// On a closing bracket at `level`: where to truncate the output before writing `?`,
    /// if this closes the list and the list held values.
    pub(super) fn closes_at(&self, level: usize) -> Option<Option<usize>> {
        if level != self.level {
            return None;
        }
        Some(self.has_value.then_some(self.body_start))
    }
}

/// Distinct row shapes remembered per `VALUES` list. Rows past this many distinct shapes are
/// kept as written; bulk inserts from ORMs use one shape.
const MAX_ROW_SHAPES: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum RowState {
    /// Inside a row opened at this nesting level, starting at this output offset.
    InRow { level: usize, start: usize },
    /// After a row's `)`; `comma` once the separating comma has been seen.
    BetweenRows { comma: bool },
}

/// Rows of a `VALUES` list. Each finished row is compared, after obfuscation, with the rows
/// kept so far; a row with the same text as one of them is removed together with the comma
/// before it. `VALUES (1, 'a'), (2, 'b')` therefore becomes `VALUES (?, ?)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct ValuesCollapse {
    state: RowState,
    kept: [(usize, usize); MAX_ROW_SHAPES],
    kept_len: usize,
}

/// What the main pass should do after a token, as decided by [`ValuesCollapse`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum RowEvent {
    /// Keep tracking.
    Continue,
    /// The list is over.
    Done,
}

impl ValuesCollapse {
    /// A first row opened at `level`, its `(` written at output offset `start`.
    pub(super) fn open(level: usize, start: usize) -> Self {
        ValuesCollapse {
            state: RowState::InRow { level, start },
            kept: [(0, 0); MAX_ROW_SHAPES],
            kept_len: 0,
        }
    }

    /// A comma was written.
    pub(super) fn comma(&mut self) -> RowEvent {
        match &mut self.state {
            RowState::InRow { .. } => RowEvent::Continue,
            RowState::BetweenRows { comma } if !*comma => {
                *comma = true;
                RowEvent::Continue
            }
            RowState::BetweenRows { .. } => RowEvent::Done,
        }
    }

    /// An opening bracket at `level` is about to be written at output offset `start`.
    pub(super) fn open_bracket(&mut self, level: usize, start: usize) -> RowEvent {
        match self.state {
            RowState::InRow { .. } => RowEvent::Continue,
            RowState::BetweenRows { comma: true } => {
                self.state = RowState::InRow { level, start };
                RowEvent::Continue
            }
            RowState::BetweenRows { comma: false } => RowEvent::Done,
        }
    }

    /// Any token other than a comma or bracket.
    pub(super) fn other_token(&self) -> RowEvent {
        match self.state {
            RowState::InRow { .. } => RowEvent::Continue,
            RowState::BetweenRows { .. } => RowEvent::Done,
        }
    }

    /// A closing bracket at `level` has just been written, ending the output at `end`.
    /// Returns the length to truncate the output to when the row duplicates a kept one.
    pub(super) fn close_bracket(&mut self, level: usize, out: &str, end: usize) -> Option<usize> {
        let RowState::InRow {
            level: row_level,
            start,
        } = self.state
        else {
            return None;
        };
        if level != row_level {
            return None;
        }
        self.state = RowState::BetweenRows { comma: false };
        let row = out.as_bytes().get(start..end)?;
        let kept = self.kept.get(..self.kept_len).unwrap_or_default();
        let duplicate = kept.iter().any(|&(a, b)| {
            out.as_bytes()
                .get(a..b)
                .is_some_and(|kept_row| same_shape(kept_row, row))
        });
        if duplicate {
            return kept.last().map(|&(_, last_end)| last_end);
        }
        if let Some(slot) = self.kept.get_mut(self.kept_len) {
            *slot = (start, end);
            self.kept_len += 1;
        }
        None
    }
}

/// Whether two obfuscated rows are the same but for placeholder numbers, so that
/// `($1, $2)` and `($3, $4)` collapse like `(?, ?)` and `(?, ?)` do.
fn same_shape(a: &[u8], b: &[u8]) -> bool {
    let (mut i, mut j) = (0, 0);
    let mut prev = 0u8;
    loop {
        match (a.get(i).copied(), b.get(j).copied()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
                if matches!(x, b'$' | b'?') && !is_word_char(prev) {
                    while a.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    while b.get(j).is_some_and(u8::is_ascii_digit) {
                        j += 1;
                    }
                }
                prev = x;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_closes_only_at_its_level() {
        let mut list = ListCollapse::open(4, 1);
        assert_eq!(list.closes_at(2), None);
        assert_eq!(list.closes_at(1), Some(None));
        list.saw_value();
        assert_eq!(list.closes_at(1), Some(Some(4)));
    }

    #[test]
    fn duplicate_rows_truncate_to_last_kept_row() {
        let out = "VALUES (?), (?)";
        let mut rows = ValuesCollapse::open(1, 7);
        assert_eq!(rows.close_bracket(1, out, 10), None);
        assert_eq!(rows.comma(), RowEvent::Continue);
        assert_eq!(rows.open_bracket(1, 12), RowEvent::Continue);
        assert_eq!(rows.close_bracket(1, out, 15), Some(10));
        assert_eq!(rows.other_token(), RowEvent::Done);
    }

    #[test]
    fn rows_differing_in_placeholder_numbers_have_the_same_shape() {
        assert!(same_shape(b"($1, $2)", b"($13, $14)"));
        assert!(same_shape(b"(?1, ?)", b"(?2, ?)"));
        assert!(!same_shape(b"(a$1)", b"(a$2)"));
        assert!(!same_shape(b"(?, ?)", b"(?)"));
    }
}
