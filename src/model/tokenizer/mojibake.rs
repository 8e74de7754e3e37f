//! Mojibake: ftfy's badness heuristic (`ftfy.badness.is_bad`, `chardata.UTF8_DETECTOR_RE`)
//! and its encoding repair (`ftfy.fix_encoding`): text decoded with the wrong code page,
//! re-encoded with each candidate and decoded again as UTF-8 (with ftfy's tolerance for
//! altered and lossy byte sequences).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::atom::{Atom, in_ranges, py_isspace};
use super::ftfy_data::{
    BADNESS, CHARMAPS, Charmap, UTF8_CONTINUATION, UTF8_CONTINUATION_STRICT, UTF8_FIRST_OF_2, UTF8_FIRST_OF_3,
    UTF8_FIRST_OF_4,
};

/// Safety net against a fix that never converges (ftfy itself would loop forever).
pub(super) const MAX_FIX_ROUNDS: usize = 64;

pub(super) fn atom_len(atom: Atom, chars: &[char], pos: usize) -> Option<usize> {
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
pub(super) fn is_bad(chars: &[char]) -> bool {
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
pub(super) fn utf8_unit(chars: &[char], pos: usize) -> Option<usize> {
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
pub(super) fn utf8_detector_matches(chars: &[char]) -> Vec<(usize, usize)> {
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

pub(super) fn charmap(name: &str) -> Option<&'static Charmap> {
    CHARMAPS.iter().find(|c| c.name == name)
}

/// Inverse tables (code point → byte) for every charmap, in `CHARMAPS` order.
pub(super) fn encoders() -> &'static [HashMap<u32, u8>] {
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
pub(super) fn encode_charmap(chars: &[char], encoder: &HashMap<u32, u8>) -> Option<Vec<u8>> {
    chars.iter().map(|&c| encoder.get(&(c as u32)).copied()).collect()
}

pub(super) fn fix_encoding(text: &str) -> String {
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

pub(super) fn fix_encoding_one_step(text: &str) -> String {
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
pub(super) fn latin1_as_windows1252(chars: &[char]) -> Option<String> {
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

pub(super) fn decode_inconsistent_utf8(chars: &[char], matches: &[(usize, usize)]) -> String {
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
pub(super) type BytePattern = &'static [&'static [(u8, u8)]];

pub(super) const SP: &[(u8, u8)] = &[(0x20, 0x20)];
pub(super) const CONT_NO_85_A0: &[(u8, u8)] = &[(0x80, 0x84), (0x86, 0x9F), (0xA1, 0xBF)];
pub(super) const CONT: &[(u8, u8)] = &[(0x80, 0xBF)];

/// ftfy `ALTERED_UTF8_RE`.
pub(super) const ALTERED_UTF8: &[BytePattern] = &[
    &[&[(0xC2, 0xC3), (0xC5, 0xC5), (0xCE, 0xCE), (0xD0, 0xD0), (0xD9, 0xD9)], SP],
    &[&[(0xE2, 0xE3)], SP, CONT_NO_85_A0],
    &[&[(0xE0, 0xE3)], CONT_NO_85_A0, SP],
    &[&[(0xF0, 0xF0)], SP, CONT, CONT],
    &[&[(0xF0, 0xF0)], CONT, SP, CONT],
    &[&[(0xF0, 0xF0)], CONT, CONT, SP],
];

pub(super) const SUB: &[(u8, u8)] = &[(0x1A, 0x1A)];
pub(super) const SUB_Q: &[(u8, u8)] = &[(0x1A, 0x1A), (b'?', b'?')];
pub(super) const SUB_CONT: &[(u8, u8)] = &[(0x1A, 0x1A), (0x80, 0xBF)];
pub(super) const SUB_Q_CONT: &[(u8, u8)] = &[(0x1A, 0x1A), (b'?', b'?'), (0x80, 0xBF)];
pub(super) const ED: &[(u8, u8)] = &[(0xED, 0xED)];
pub(super) const E0_EF: &[(u8, u8)] = &[(0xE0, 0xEF)];
pub(super) const F0_F4: &[(u8, u8)] = &[(0xF0, 0xF4)];

/// ftfy `LOSSY_UTF8_RE`.
pub(super) const LOSSY_UTF8: &[BytePattern] = &[
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

pub(super) fn byte_pattern_at(bytes: &[u8], pos: usize, pat: BytePattern) -> bool {
    pat.iter()
        .enumerate()
        .all(|(k, set)| bytes.get(pos + k).is_some_and(|&b| set.iter().any(|&(lo, hi)| (lo..=hi).contains(&b))))
}

/// First alternative (in order) matching at `pos`, as its length.
pub(super) fn byte_alts_at(bytes: &[u8], pos: usize, alts: &[BytePattern]) -> Option<usize> {
    alts.iter().find(|p| byte_pattern_at(bytes, pos, p)).map(|p| p.len())
}

pub(super) fn altered_utf8_search(bytes: &[u8]) -> bool {
    (0..bytes.len()).any(|i| byte_alts_at(bytes, i, ALTERED_UTF8).is_some())
}

/// Substitute every non-overlapping match of `alts` with `f(matched bytes)`.
pub(super) fn byte_sub(bytes: &[u8], alts: &[BytePattern], f: impl Fn(&[u8], &mut Vec<u8>)) -> Vec<u8> {
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
pub(super) fn restore_byte_a0(bytes: &[u8]) -> Vec<u8> {
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
pub(super) fn replace_lossy_sequences(bytes: &[u8]) -> Vec<u8> {
    byte_sub(bytes, LOSSY_UTF8, |_, out| {
        out.extend_from_slice("\u{FFFD}".as_bytes());
    })
}

/// ftfy's `utf-8-variants` codec: UTF-8 plus CESU-8 surrogate pairs and Java's `C0 80`.
pub(super) fn decode_utf8_variants(bytes: &[u8]) -> Option<String> {
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

pub(super) fn fix_c1_controls(text: &str) -> String {
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
