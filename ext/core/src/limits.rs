//! Caps that keep one transaction from growing without bound. What is cut is counted,
//! never an error.

/// Events kept per transaction; later ones are counted in `events_dropped`.
pub const MAX_EVENTS: usize = 2_000;
/// Bytes kept of an event title.
pub const MAX_TITLE_BYTES: usize = 1_000;
/// Bytes kept of an event body (SQL, URLs...).
pub const MAX_BODY_BYTES: usize = 10_000;
/// Bytes kept of params/session/custom data JSON.
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Tags kept per transaction, and bytes per tag value.
pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_VALUE_BYTES: usize = 1_000;
/// Breadcrumbs kept per transaction (the latest ones).
pub const MAX_BREADCRUMBS: usize = 20;
/// Backtrace lines kept per error.
pub const MAX_BACKTRACE_LINES: usize = 400;

/// Cuts `text` to at most `max` bytes on a char boundary. Returns whether it cut.
pub fn truncate_in_place(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_utf8_boundaries() {
        let mut s = "ééé".to_string(); // 6 bytes
        assert!(truncate_in_place(&mut s, 3));
        assert_eq!(s, "é");
        let mut short = "ok".to_string();
        assert!(!truncate_in_place(&mut short, 3));
    }
}
