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
//! `tools/gen_ftfy_data.py`); the code here is a re-implementation of ftfy's steps.
//!
//! Known, deliberate simplifications (none of them reachable from valid UTF-8 input except
//! the `\w`/`\d` class details):
//! - `fix_surrogates` is a no-op: a Rust `&str` cannot hold UTF-16 surrogates.
//! - Python's `\w` is approximated by `char::is_alphanumeric() || '_'` and `\d` by
//!   `char::is_numeric()` (they differ only for a few combining vowel signs / numerals
//!   inside mojibake heuristics and ANSI escapes).
//! - Unicode tables (NFC, NFKC, letter classes) are those of the Rust crates, not of the
//!   Python build that made the goldens.

use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

use super::atom::Atom;
use super::ftfy_data::{
    BADNESS, CHARMAPS, Charmap, HTML_INVALID_CHARREFS, HTML_INVALID_CODEPOINTS, UTF8_CONTINUATION,
    UTF8_CONTINUATION_STRICT, UTF8_FIRST_OF_2, UTF8_FIRST_OF_3, UTF8_FIRST_OF_4,
};

/// ftfy's `max_decode_length`: longest segment (in code points) fixed at once.
const MAX_DECODE_LENGTH: usize = 1_000_000;

/// Safety net against a fix that never converges (ftfy itself would loop forever).
const MAX_FIX_ROUNDS: usize = 64;

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

/// CPython's `html.unescape`: numeric and named character references (all HTML5 names,
/// including the legacy ones that need no `;`), with the longest-prefix rule.
pub fn html_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '&'
            && let Some((replacement, consumed)) = python_charref(&chars[i + 1..])
        {
            out.push_str(&replacement);
            i += 1 + consumed;
            continue;
        }
        out.push(chars[i]);
        i += 1;
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

fn fix_c1_controls(text: &str) -> String {
    let Some(cp1252) = charmap("sloppy-windows-1252") else {
        return text.to_owned();
    };
    text.chars()
        .map(|c| {
            let cp = c as u32;
            if (0x80..=0x9F).contains(&cp) { char::from_u32(cp1252.decode[cp as usize]).unwrap_or(c) } else { c }
        })
        .collect()
}

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
// HTML entities
// ---------------------------------------------------------------------------------------

/// ftfy's `HTML_ENTITIES`: every HTML5 name that ends in `;`, plus upper-cased variants of
/// lower-case names (`&EACUTE;` → `É`) that are not themselves entities.
fn ftfy_entities() -> &'static HashMap<String, String> {
    static TABLE: OnceLock<HashMap<String, String>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut map = HashMap::new();
        for (key, value) in htmlize::ENTITIES.entries() {
            let (Ok(key), Ok(value)) = (std::str::from_utf8(key), std::str::from_utf8(value)) else {
                continue;
            };
            if !key.ends_with(';') {
                continue;
            }
            map.insert(key.to_owned(), value.to_owned());
            let name = &key[1..];
            if name == name.to_lowercase() {
                let upper = format!("&{}", name.to_uppercase());
                if html_unescape(&upper) == upper {
                    map.insert(upper, value.to_uppercase());
                }
            }
        }
        map
    })
}

/// ftfy `unescape_html`: replaces `&#?[0-9A-Za-z]{1,24};` when it is a known entity (or a
/// numeric reference that fully decodes).
fn ftfy_unescape_html(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '&' {
            let mut j = i + 1;
            if chars.get(j) == Some(&'#') {
                j += 1;
            }
            let run = chars[j.min(chars.len())..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
            if (1..=24).contains(&run) && chars.get(j + run) == Some(&';') {
                let end = j + run + 1;
                let entity: String = chars[i..end].iter().collect();
                if let Some(v) = ftfy_entities().get(&entity) {
                    out.push_str(v);
                } else if entity.starts_with("&#") {
                    let unescaped = html_unescape(&entity);
                    if unescaped.contains(';') {
                        out.push_str(&entity);
                    } else {
                        out.push_str(&unescaped);
                    }
                } else {
                    out.push_str(&entity);
                }
                i = end;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Match CPython's `_charref` regex right after a `&` and apply `_replace_charref`.
/// Returns the replacement and the number of characters consumed after the `&`.
fn python_charref(rest: &[char]) -> Option<(String, usize)> {
    let first = *rest.first()?;
    if first == '#' {
        let (digits_start, radix) = match rest.get(1) {
            Some(c) if c.is_ascii_digit() => (1, 10),
            Some('x' | 'X') if rest.get(2).is_some_and(char::is_ascii_hexdigit) => (2, 16),
            _ => return None,
        };
        let n_digits = rest[digits_start..].iter().take_while(|c| c.is_digit(radix)).count();
        let mut consumed = digits_start + n_digits;
        if rest.get(consumed) == Some(&';') {
            consumed += 1;
        }
        let mut num: u64 = 0;
        for c in &rest[digits_start..digits_start + n_digits] {
            let d = u64::from(c.to_digit(radix).unwrap_or(0));
            num = num.saturating_mul(u64::from(radix)).saturating_add(d);
        }
        return Some((numeric_charref(num), consumed));
    }
    let is_name_char = |c: &char| !matches!(c, '\t' | '\n' | '\x0c' | ' ' | '<' | '&' | '#' | ';');
    let n = rest.iter().take(32).take_while(|c| is_name_char(c)).count();
    if n == 0 {
        return None;
    }
    let mut consumed = n;
    if rest.get(n) == Some(&';') {
        consumed += 1;
    }
    let s = &rest[..consumed];
    let lookup = |name: &[char]| -> Option<&'static str> {
        let key: String = std::iter::once('&').chain(name.iter().copied()).collect();
        htmlize::ENTITIES.get(key.as_bytes()).and_then(|v| std::str::from_utf8(v).ok())
    };
    if let Some(v) = lookup(s) {
        return Some((v.to_owned(), consumed));
    }
    for x in (2..s.len()).rev() {
        if let Some(v) = lookup(&s[..x]) {
            let mut rep = v.to_owned();
            rep.extend(&s[x..]);
            return Some((rep, consumed));
        }
    }
    let mut unchanged = String::from("&");
    unchanged.extend(s);
    Some((unchanged, consumed))
}

fn numeric_charref(num: u64) -> String {
    if let Some(&(_, rep)) = HTML_INVALID_CHARREFS.iter().find(|&&(k, _)| u64::from(k) == num) {
        return char::from_u32(rep).map(String::from).unwrap_or_default();
    }
    if (0xD800..=0xDFFF).contains(&num) || num > 0x10FFFF {
        return "\u{FFFD}".to_owned();
    }
    // num <= 0x10FFFF here, so the conversion cannot fail.
    let cp = u32::try_from(num).unwrap_or(0xFFFD);
    if in_ranges(cp, HTML_INVALID_CODEPOINTS) {
        return String::new();
    }
    char::from_u32(cp).map(String::from).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Whitespace helpers (Python str.isspace / strip / regex \s+)
// ---------------------------------------------------------------------------------------

/// Python `str.isspace()` for one character.
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

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

// ---------------------------------------------------------------------------------------
// Mojibake detection (ftfy.badness.is_bad and chardata.UTF8_DETECTOR_RE)
// ---------------------------------------------------------------------------------------

fn in_ranges(cp: u32, ranges: &[(u32, u32)]) -> bool {
    let idx = ranges.partition_point(|&(_, hi)| hi < cp);
    ranges.get(idx).is_some_and(|&(lo, _)| lo <= cp)
}

fn atom_len(atom: Atom, chars: &[char], pos: usize) -> Option<usize> {
    if let Atom::Start = atom {
        return (pos == 0).then_some(0);
    }
    let c = *chars.get(pos)?;
    let ok = match atom {
        Atom::In(r) => in_ranges(c as u32, r),
        Atom::NotIn(r) => !in_ranges(c as u32, r),
        Atom::Space => py_isspace(c),
        Atom::Word => c.is_alphanumeric() || c == '_',
        Atom::AnyButNewline => c != '\n',
        Atom::Start => false,
    };
    ok.then_some(1)
}

/// ftfy `is_bad`: does any of the badness patterns occur in the text?
fn is_bad(chars: &[char]) -> bool {
    (0..chars.len()).any(|start| {
        BADNESS.iter().any(|alt| {
            let mut pos = start;
            alt.iter().all(|&atom| match atom_len(atom, chars, pos) {
                Some(n) => {
                    pos += n;
                    true
                }
                None => false,
            })
        })
    })
}

/// One `UTF8_DETECTOR_RE` unit at `pos`: a lead character and its continuations.
fn utf8_unit(chars: &[char], pos: usize) -> Option<usize> {
    let c = *chars.get(pos)? as u32;
    let conts = |n: usize| (1..=n).all(|k| chars.get(pos + k).is_some_and(|&c| in_ranges(c as u32, UTF8_CONTINUATION)));
    if in_ranges(c, UTF8_FIRST_OF_2) && conts(1) {
        Some(2)
    } else if in_ranges(c, UTF8_FIRST_OF_3) && conts(2) {
        Some(3)
    } else if in_ranges(c, UTF8_FIRST_OF_4) && conts(3) {
        Some(4)
    } else {
        None
    }
}

/// Non-overlapping matches of `UTF8_DETECTOR_RE` as (start, end) char indices.
fn utf8_detector_matches(chars: &[char]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let blocked = i > 0 && in_ranges(chars[i - 1] as u32, UTF8_CONTINUATION_STRICT);
        if !blocked {
            let mut p = i;
            while let Some(n) = utf8_unit(chars, p) {
                p += n;
            }
            if p > i {
                found.push((i, p));
                i = p;
                continue;
            }
        }
        i += 1;
    }
    found
}

// ---------------------------------------------------------------------------------------
// Encoding repair (ftfy.fix_encoding)
// ---------------------------------------------------------------------------------------

fn charmap(name: &str) -> Option<&'static Charmap> {
    CHARMAPS.iter().find(|c| c.name == name)
}

/// Inverse tables (code point → byte) for every charmap, in `CHARMAPS` order.
fn encoders() -> &'static [HashMap<u32, u8>] {
    static ENC: OnceLock<Vec<HashMap<u32, u8>>> = OnceLock::new();
    ENC.get_or_init(|| {
        CHARMAPS
            .iter()
            .map(|cm| {
                let mut m = HashMap::with_capacity(256);
                for (b, &cp) in (0u8..=255).zip(cm.decode.iter()) {
                    m.entry(cp).or_insert(b);
                }
                m
            })
            .collect()
    })
}

/// `text.encode(charmap)`, or `None` when a character has no byte in it
/// (= ftfy's `possible_encoding` is false).
fn encode_charmap(chars: &[char], encoder: &HashMap<u32, u8>) -> Option<Vec<u8>> {
    chars.iter().map(|&c| encoder.get(&(c as u32)).copied()).collect()
}

fn fix_encoding(text: &str) -> String {
    let mut text = text.to_owned();
    for _ in 0..MAX_FIX_ROUNDS {
        let next = fix_encoding_one_step(&text);
        if next == text {
            break;
        }
        text = next;
    }
    text
}

fn fix_encoding_one_step(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    if !is_bad(&chars) {
        return text.to_owned();
    }

    let mut possible: Vec<&str> = Vec::new();
    for (cm, encoder) in CHARMAPS.iter().zip(encoders()) {
        let Some(mut bytes) = encode_charmap(&chars, encoder) else {
            continue;
        };
        possible.push(cm.name);
        if cm.name != "macroman" && altered_utf8_search(&bytes) {
            bytes = restore_byte_a0(&bytes);
        }
        if cm.sloppy {
            bytes = replace_lossy_sequences(&bytes);
        }
        let decoded = if bytes.contains(&0xED) || bytes.contains(&0xC0) {
            decode_utf8_variants(&bytes)
        } else {
            String::from_utf8(bytes).ok()
        };
        if let Some(fixed) = decoded {
            return fixed;
        }
    }

    let matches = utf8_detector_matches(&chars);
    if !matches.is_empty() {
        let fixed = decode_inconsistent_utf8(&chars, &matches);
        if fixed != text {
            return fixed;
        }
    }

    // ftfy checks for "windows-1252" in a list that only ever holds "sloppy-windows-1252",
    // so Latin-1-encodable text always goes on to the strict windows-1252 decode.
    if possible.contains(&"latin-1")
        && let Some(fixed) = latin1_as_windows1252(&chars)
        && fixed != text
    {
        return fixed;
    }

    if chars.iter().any(|&c| ('\u{80}'..='\u{9f}').contains(&c)) {
        return fix_c1_controls(text);
    }
    text.to_owned()
}

/// `text.encode("latin-1").decode("windows-1252")` (strict: fails on 0x81, 0x8D, ...).
fn latin1_as_windows1252(chars: &[char]) -> Option<String> {
    let cm = charmap("sloppy-windows-1252")?;
    chars
        .iter()
        .map(|&c| {
            let cp = c as u32;
            let b = u8::try_from(cp).ok()?;
            if cm.strict_undefined.contains(&b) {
                None
            } else if b == 0x1A {
                Some('\u{1a}')
            } else {
                char::from_u32(cm.decode[usize::from(b)])
            }
        })
        .collect()
}

fn decode_inconsistent_utf8(chars: &[char], matches: &[(usize, usize)]) -> String {
    let mut out = String::new();
    let mut last = 0;
    for &(s, e) in matches {
        out.extend(&chars[last..s]);
        let sub = &chars[s..e];
        let substr: String = sub.iter().collect();
        if sub.len() < chars.len() && is_bad(sub) {
            out.push_str(&fix_encoding(&substr));
        } else {
            out.push_str(&substr);
        }
        last = e;
    }
    out.extend(&chars[last..]);
    out
}

/// A byte pattern: one inclusive range set per position.
type BytePattern = &'static [&'static [(u8, u8)]];

const SP: &[(u8, u8)] = &[(0x20, 0x20)];
const CONT_NO_85_A0: &[(u8, u8)] = &[(0x80, 0x84), (0x86, 0x9F), (0xA1, 0xBF)];
const CONT: &[(u8, u8)] = &[(0x80, 0xBF)];

/// ftfy `ALTERED_UTF8_RE`.
const ALTERED_UTF8: &[BytePattern] = &[
    &[&[(0xC2, 0xC3), (0xC5, 0xC5), (0xCE, 0xCE), (0xD0, 0xD0), (0xD9, 0xD9)], SP],
    &[&[(0xE2, 0xE3)], SP, CONT_NO_85_A0],
    &[&[(0xE0, 0xE3)], CONT_NO_85_A0, SP],
    &[&[(0xF0, 0xF0)], SP, CONT, CONT],
    &[&[(0xF0, 0xF0)], CONT, SP, CONT],
    &[&[(0xF0, 0xF0)], CONT, CONT, SP],
];

const SUB: &[(u8, u8)] = &[(0x1A, 0x1A)];
const SUB_Q: &[(u8, u8)] = &[(0x1A, 0x1A), (b'?', b'?')];
const SUB_CONT: &[(u8, u8)] = &[(0x1A, 0x1A), (0x80, 0xBF)];
const SUB_Q_CONT: &[(u8, u8)] = &[(0x1A, 0x1A), (b'?', b'?'), (0x80, 0xBF)];
const ED: &[(u8, u8)] = &[(0xED, 0xED)];
const E0_EF: &[(u8, u8)] = &[(0xE0, 0xEF)];
const F0_F4: &[(u8, u8)] = &[(0xF0, 0xF4)];

/// ftfy `LOSSY_UTF8_RE`.
const LOSSY_UTF8: &[BytePattern] = &[
    &[&[(0xC2, 0xDF)], SUB],
    &[&[(0xC2, 0xC3)], &[(b'?', b'?')]],
    &[ED, &[(0xA0, 0xAF)], SUB_Q, ED, &[(0xB0, 0xBF)], SUB_Q_CONT],
    &[ED, &[(0xA0, 0xAF)], SUB_Q_CONT, ED, &[(0xB0, 0xBF)], SUB_Q],
    &[E0_EF, SUB_Q, SUB_CONT],
    &[E0_EF, SUB_CONT, SUB_Q],
    &[F0_F4, SUB_Q, SUB_CONT, SUB_CONT],
    &[F0_F4, SUB_CONT, SUB_Q, SUB_CONT],
    &[F0_F4, SUB_CONT, SUB_CONT, SUB_Q],
    &[SUB],
];

fn byte_pattern_at(bytes: &[u8], pos: usize, pat: BytePattern) -> bool {
    pat.iter()
        .enumerate()
        .all(|(k, set)| bytes.get(pos + k).is_some_and(|&b| set.iter().any(|&(lo, hi)| (lo..=hi).contains(&b))))
}

/// First alternative (in order) matching at `pos`, as its length.
fn byte_alts_at(bytes: &[u8], pos: usize, alts: &[BytePattern]) -> Option<usize> {
    alts.iter().find(|p| byte_pattern_at(bytes, pos, p)).map(|p| p.len())
}

fn altered_utf8_search(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|i| byte_alts_at(bytes, i, ALTERED_UTF8).is_some())
}

/// Substitute every non-overlapping match of `alts` with `f(matched bytes)`.
fn byte_sub(bytes: &[u8], alts: &[BytePattern], f: impl Fn(&[u8], &mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if let Some(n) = byte_alts_at(bytes, i, alts) {
            f(&bytes[i..i + n], &mut out);
            i += n;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// ftfy `restore_byte_a0`.
fn restore_byte_a0(bytes: &[u8]) -> Vec<u8> {
    // A_GRAVE_WORD_RE: b"\xc3 (?! |quele|quela|quilo|s )" -> b"\xc3\xa0 "
    let mut step1 = Vec::with_capacity(bytes.len() + 4);
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0xC3 && bytes.get(i + 1) == Some(&b' ') {
            let after = &bytes[i + 2..];
            let excluded = [&b" "[..], b"quele", b"quela", b"quilo", b"s "].iter().any(|p| after.starts_with(p));
            if !excluded {
                step1.extend_from_slice(&[0xC3, 0xA0, b' ']);
                i += 2;
                continue;
            }
        }
        step1.push(bytes[i]);
        i += 1;
    }
    byte_sub(&step1, ALTERED_UTF8, |m, out| {
        out.extend(m.iter().map(|&b| if b == b' ' { 0xA0 } else { b }));
    })
}

/// ftfy `replace_lossy_sequences`.
fn replace_lossy_sequences(bytes: &[u8]) -> Vec<u8> {
    byte_sub(bytes, LOSSY_UTF8, |_, out| {
        out.extend_from_slice("\u{FFFD}".as_bytes());
    })
}

/// ftfy's `utf-8-variants` codec: UTF-8 plus CESU-8 surrogate pairs and Java's `C0 80`.
fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    let mut plain_start = 0;
    while i < bytes.len() {
        let special = match bytes[i] {
            0xC0 => Some(if bytes.get(i + 1) == Some(&0x80) { Some(('\0', 2)) } else { None }),
            0xED if bytes.get(i + 1).is_none_or(|b| (0xA0..=0xBF).contains(b)) => {
                let cesu = byte_pattern_at(bytes, i, &[ED, &[(0xA0, 0xAF)], CONT, ED, &[(0xB0, 0xBF)], CONT]);
                Some(if cesu {
                    let b = &bytes[i..i + 6];
                    let cp = ((u32::from(b[1]) & 0x0F) << 16)
                        + ((u32::from(b[2]) & 0x3F) << 10)
                        + ((u32::from(b[4]) & 0x0F) << 6)
                        + (u32::from(b[5]) & 0x3F)
                        + 0x10000;
                    char::from_u32(cp).map(|c| (c, 6))
                } else {
                    None
                })
            }
            _ => None,
        };
        match special {
            None => i += 1,
            Some(None) => return None,
            Some(Some((c, n))) => {
                out.push_str(std::str::from_utf8(&bytes[plain_start..i]).ok()?);
                out.push(c);
                i += n;
                plain_start = i;
            }
        }
    }
    out.push_str(std::str::from_utf8(&bytes[plain_start..]).ok()?);
    Some(out)
}

#[cfg(test)]
mod tests {
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
