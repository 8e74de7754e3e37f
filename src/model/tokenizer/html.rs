//! HTML character references as ftfy and CPython's `html.unescape` read them: ftfy's own
//! entity table (applied only where a segment holds no `<`/`>`), and Python's rules for
//! numeric references (invalid code points, the Windows-1252 replacements of C1 controls).

use std::collections::HashMap;
use std::sync::OnceLock;

use super::atom::in_ranges;
use super::ftfy_data::{HTML_INVALID_CHARREFS, HTML_INVALID_CODEPOINTS};

/// ftfy's `HTML_ENTITIES`: every HTML5 name that ends in `;`, plus upper-cased variants of
/// lower-case names (`&EACUTE;` → `É`) that are not themselves entities.
pub(super) fn ftfy_entities() -> &'static HashMap<String, String> {
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
pub(super) fn ftfy_unescape_html(text: &str) -> String {
    replace_references(text, |at| {
        let start = if at.get(1) == Some(&'#') { 2 } else { 1 };
        let run = at[start.min(at.len())..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
        if !(1..=24).contains(&run) || at.get(start + run) != Some(&';') {
            return None;
        }
        let end = start + run + 1;
        let entity: String = at[..end].iter().collect();
        let replacement = if let Some(v) = ftfy_entities().get(&entity) {
            v.clone()
        } else if entity.starts_with("&#") {
            let unescaped = html_unescape(&entity);
            if unescaped.contains(';') { entity } else { unescaped }
        } else {
            entity
        };
        Some((replacement, end))
    })
}

/// `text` with each `&` that `at_amp` recognises replaced: `at_amp` sees the text from that
/// `&` on and returns the replacement and how many characters it replaces.
fn replace_references(text: &str, at_amp: impl Fn(&[char]) -> Option<(String, usize)>) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '&'
            && let Some((replacement, consumed)) = at_amp(&chars[i..])
        {
            out.push_str(&replacement);
            i += consumed;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Match CPython's `_charref` regex right after a `&` and apply `_replace_charref`.
/// Returns the replacement and the number of characters consumed after the `&`.
pub(super) fn python_charref(rest: &[char]) -> Option<(String, usize)> {
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

pub(super) fn numeric_charref(num: u64) -> String {
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

/// CPython's `html.unescape`: numeric and named character references (all HTML5 names,
/// including the legacy ones that need no `;`), with the longest-prefix rule.
pub fn html_unescape(text: &str) -> String {
    replace_references(text, |at| python_charref(&at[1..]).map(|(r, n)| (r, n + 1)))
}
