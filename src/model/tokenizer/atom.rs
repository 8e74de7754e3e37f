//! The pattern element of ftfy's badness patterns: the generated data (`ftfy_data`) is made
//! of it and the cleaner (`text_clean`) matches it; both import it from here.

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
