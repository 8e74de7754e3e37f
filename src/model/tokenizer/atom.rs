//! The pattern element of ftfy's badness patterns: the generated data (`ftfy_data`) is made
//! of it and the cleaner (`text_clean`) matches it; both import it from here, with the
//! character classes it is matched with.

/// One position of an ftfy "badness" pattern (generated from ftfy's `BADNESS_RE`).
#[derive(Debug, Clone, Copy)]
pub(super) enum Atom {
    /// One character inside these inclusive code-point ranges.
    In(&'static [(u32, u32)]),
    /// One character outside these ranges.
    NotIn(&'static [(u32, u32)]),
    /// Python `\s`.
    Space,
    /// Python `\w`.
    Word,
    /// Python `.` (anything but `\n`).
    AnyButNewline,
    /// `^`: start of the text, consumes nothing.
    Start,
}

/// Python `str.isspace()` for one character.
pub(super) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(super) fn in_ranges(cp: u32, ranges: &[(u32, u32)]) -> bool {
    let idx = ranges.partition_point(|&(_, hi)| hi < cp);
    ranges.get(idx).is_some_and(|&(lo, _)| lo <= cp)
}
