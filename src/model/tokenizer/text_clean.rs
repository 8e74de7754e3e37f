//! Text cleaning done before CLIP BPE: a behavioural port of `ftfy.fix_text` (ftfy 6.3.1,
//! default `TextFixerConfig`) and of CPython's `html.unescape`.
//!
//! open_clip 2.22 cleans every prompt with
//! `whitespace_clean(html.unescape(html.unescape(ftfy.fix_text(text))).strip()).lower()`
//! ([`clean_prompt`]). Getting the same token ids therefore needs the same cleaning,
//! including ftfy's mojibake repair (`"cafÃ©"` → `"café"`), quote straightening, ligature
//! and full-width expansion.
//!
//! ftfy is © Robyn Speer, Apache-2.0. The character classes, code pages and HTML tables
//! come from ftfy 6.3.1 and CPython (generated into `ftfy_data.rs` by
//! `tools/gen_ftfy_data.py`); the code here is a re-implementation of ftfy's steps. HTML
//! references are in `html.rs`, mojibake detection and repair in `mojibake.rs`.
//!
//! Known, deliberate simplifications (none of them reachable from valid UTF-8 input except
//! the `\w`/`\d` class details):
//! - `fix_surrogates` is a no-op: a Rust `&str` cannot hold UTF-16 surrogates.
//! - Python's `\w` is approximated by `char::is_alphanumeric() || '_'` and `\d` by
//!   `char::is_numeric()` (they differ only for a few combining vowel signs / numerals
//!   inside mojibake heuristics and ANSI escapes).
//! - Unicode tables (NFC, NFKC, letter classes) are those of the Rust crates, not of the
//!   Python build that made the goldens.

use unicode_normalization::UnicodeNormalization;

use super::atom::py_isspace;
use super::html::ftfy_unescape_html;
pub use super::html::html_unescape;
use super::mojibake::{MAX_FIX_ROUNDS, fix_c1_controls, fix_encoding};

/// ftfy's `max_decode_length`: longest segment (in code points) fixed at once.
const MAX_DECODE_LENGTH: usize = 1_000_000;

// ---------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------

/// The full open_clip 2.22 prompt cleaning:
/// `ftfy.fix_text` → `html.unescape` twice → strip → collapse whitespace runs to one space
/// → strip → lower-case.
pub fn clean_prompt(text: &str) -> String {
    let fixed = fix_text(text);
    let unescaped = html_unescape(&html_unescape(&fixed));
    let collapsed = collapse_whitespace(py_strip(&unescaped));
    py_strip(&collapsed).to_lowercase()
}

/// `ftfy.fix_text(text)` with ftfy 6.3.1's default configuration.
pub fn fix_text(text: &str) -> String {
    let mut unescape = true; // "auto": switched off for good once a segment contains '<'
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let seg_end = segment_end(rest);
        let (segment, tail) = rest.split_at(seg_end);
        if segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
        rest = tail;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Segments and the main fix loop (ftfy.fix_text / fix_and_explain)
// ---------------------------------------------------------------------------------------

/// Byte length of the next segment: up to and including the next `\n`, at most
/// [`MAX_DECODE_LENGTH`] code points.
fn segment_end(text: &str) -> usize {
    for (n, (idx, ch)) in text.char_indices().enumerate() {
        if n == MAX_DECODE_LENGTH {
            return idx;
        }
        if ch == '\n' {
            return idx + 1;
        }
    }
    text.len()
}

fn fix_segment(segment: &str, unescape: bool) -> String {
    let unescape = unescape && !segment.contains('<');
    let mut text = segment.to_owned();
    for _ in 0..MAX_FIX_ROUNDS {
        let orig = text.clone();
        if unescape {
            text = ftfy_unescape_html(&text);
        }
        text = fix_encoding(&text);
        text = fix_c1_controls(&text);
        text = fix_latin_ligatures(&text);
        text = fix_character_width(&text);
        text = uncurl_quotes(&text);
        text = fix_line_breaks(&text);
        // fix_surrogates: nothing to do, a Rust string holds no surrogates.
        text = remove_terminal_escapes(&text);
        text = remove_control_chars(&text);
        text = text.nfc().collect();
        if text == orig {
            break;
        }
    }
    text
}

// ---------------------------------------------------------------------------------------
// Simple character fixers
// ---------------------------------------------------------------------------------------

fn fix_latin_ligatures(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let rep = match c {
            'Ĳ' => "IJ",
            'ĳ' => "ij",
            'ŉ' => "ʼn",
            'Ǳ' => "DZ",
            'ǲ' => "Dz",
            'ǳ' => "dz",
            'Ǆ' => "DŽ",
            'ǅ' => "Dž",
            'ǆ' => "dž",
            'Ǉ' => "LJ",
            'ǈ' => "Lj",
            'ǉ' => "lj",
            'Ǌ' => "NJ",
            'ǋ' => "Nj",
            'ǌ' => "nj",
            'ﬀ' => "ff",
            'ﬁ' => "fi",
            'ﬂ' => "fl",
            'ﬃ' => "ffi",
            'ﬄ' => "ffl",
            'ﬅ' => "ſt",
            'ﬆ' => "st",
            _ => {
                out.push(c);
                continue;
            }
        };
        out.push_str(rep);
    }
    out
}

/// U+3000 → space, and U+FF01..U+FFEF → their NFKC form (ftfy `WIDTH_MAP`).
fn fix_character_width(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c as u32 {
            0x3000 => out.push(' '),
            0xFF01..=0xFFEF => out.extend(c.to_string().nfkc()),
            _ => out.push(c),
        }
    }
    out
}

fn uncurl_quotes(text: &str) -> String {
    text.chars()
        .map(|c| match c as u32 {
            0x02BC | 0x2018..=0x201B => '\'',
            0x201C..=0x201F => '"',
            _ => c,
        })
        .collect()
}

fn fix_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// Drop ANSI terminal escapes: `ESC [ (digit | ;)* letter`.
fn remove_terminal_escapes(text: &str) -> String {
    if !text.contains('\u{1b}') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\u{1b}' && chars.get(i + 1) == Some(&'[') {
            let mut j = i + 2;
            while j < chars.len() && (chars[j].is_numeric() || chars[j] == ';') {
                j += 1;
            }
            if j < chars.len() && chars[j].is_ascii_alphabetic() {
                i = j + 1;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn remove_control_chars(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !matches!(c as u32,
                0x00..=0x08 | 0x0B | 0x0E..=0x1F | 0x7F | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFC)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Whitespace helpers (Python str.isspace / strip / regex \s+)
// ---------------------------------------------------------------------------------------

fn py_strip(text: &str) -> &str {
    text.trim_matches(py_isspace)
}

fn collapse_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.chars() {
        if py_isspace(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::mojibake::decode_utf8_variants;
    use super::*;

    #[test]
    fn ftfy_examples() {
        assert_eq!(fix_text("cafÃ© au lait"), "café au lait");
        assert_eq!(fix_text("âœ” No problems"), "✔ No problems");
        assert_eq!(fix_text("Broken text&hellip; it&#x2019;s ﬂubberiﬁc!"), "Broken text… it's flubberific!");
        assert_eq!(fix_text("ＬＯＵＤ　ＮＯＩＳＥＳ"), "LOUD NOISES");
        assert_eq!(fix_text("\u{201c}here\u{2019}s a test\u{201d}"), "\"here's a test\"");
        assert_eq!(fix_text("&macr;\\_(ã\u{83}\u{84})_/&macr;"), "¯\\_(ツ)_/¯");
        // '<' disables ftfy's own entity decoding
        assert_eq!(fix_text("&lt;b&gt; <i>"), "&lt;b&gt; <i>");
        assert_eq!(fix_text("P&EACUTE;REZ"), "PÉREZ");
        assert_eq!(fix_text("a\r\nb\rc"), "a\nb\nc");
        assert_eq!(fix_text("a\u{1b}[36;44mblue\u{1b}[0m"), "ablue");
        assert_eq!(fix_text("x\u{0}\u{b}y\u{feff}"), "xy");
    }

    #[test]
    fn python_html_unescape() {
        assert_eq!(html_unescape("&amp;amp;"), "&amp;");
        assert_eq!(html_unescape("&notit; &notin;"), "¬it; ∉");
        assert_eq!(html_unescape("&eacute &#233 &#xe9; &#0; &#1; &#x80;"), "é é é \u{FFFD}  €");
        assert_eq!(html_unescape("&#99999999999999999999;"), "\u{FFFD}");
        assert_eq!(html_unescape("&nosuch; & &#;"), "&nosuch; & &#;");
    }

    #[test]
    fn prompt_cleaning() {
        assert_eq!(
            clean_prompt("  A Man   WALKING\n on the\tBEACH at  Sunset  "),
            "a man walking on the beach at sunset"
        );
        assert_eq!(clean_prompt("double escaped &amp;amp; and &lt;tag&gt;"), "double escaped & and <tag>");
        assert_eq!(clean_prompt("ﬁne ＦＵＬＬＷＩＤＴＨ text"), "fine fullwidth text");
        assert_eq!(clean_prompt(""), "");
    }

    #[test]
    fn utf8_variants() {
        assert_eq!(decode_utf8_variants(b"a\xc0\x80b").as_deref(), Some("a\0b"));
        assert_eq!(decode_utf8_variants(b"\xed\xa0\xbd\xed\xb8\x80").as_deref(), Some("\u{1F600}"));
        assert_eq!(decode_utf8_variants(b"\xed\xa0\x80"), None);
        assert_eq!(decode_utf8_variants(b"\xc0"), None);
    }
}
