//! Text that is not text: bytes that are not UTF-8, and `\uD800`-style escapes of half a UTF-16
//! surrogate pair, which JSON parsers (serde_json, arrow-json) refuse. A page holding one would
//! fail whole; instead each is replaced by U+FFFD and counted. Only a page that failed to parse
//! pays for the scan.

use std::borrow::Cow;

/// `json` with invalid UTF-8 and lone surrogate escapes replaced by U+FFFD, and how many were.
/// Borrows when there is nothing to replace.
pub fn sanitize(json: &[u8]) -> (Cow<'_, [u8]>, u64) {
    let (text, mut replaced) = match std::str::from_utf8(json) {
        Ok(_) => (Cow::Borrowed(json), 0),
        // One U+FFFD for each invalid sequence, as from_utf8_lossy writes them.
        Err(_) => {
            let invalid = json.utf8_chunks().filter(|chunk| !chunk.invalid().is_empty()).count();
            (Cow::Owned(String::from_utf8_lossy(json).into_owned().into_bytes()), invalid as u64)
        }
    };
    let (text, surrogates) = replace_lone_surrogates(text);
    replaced += surrogates;
    (text, replaced)
}

/// Replaces `\uD800`..`\uDFFF` escapes that are not a high-low pair with `\uFFFD`.
fn replace_lone_surrogates(json: Cow<'_, [u8]>) -> (Cow<'_, [u8]>, u64) {
    let bytes: &[u8] = &json;
    let mut fixes: Vec<usize> = Vec::new();
    let mut at = 0;
    while let Some(found) = bytes.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let i = at + found;
        if bytes.get(i + 1) != Some(&b'u') {
            // Another escape: skip the escaped character (a `\\` must not start a new one).
            at = i + 2;
            continue;
        }
        match escape_unit(bytes, i) {
            Some(0xD800..=0xDBFF) => {
                if matches!(escape_unit(bytes, i + 6), Some(0xDC00..=0xDFFF)) {
                    at = i + 12;
                    continue;
                }
                fixes.push(i);
            }
            Some(0xDC00..=0xDFFF) => fixes.push(i),
            _ => {}
        }
        at = i + 6;
    }
    if fixes.is_empty() {
        return (json, 0);
    }
    let mut out = bytes.to_vec();
    for &i in &fixes {
        out[i + 2..i + 6].copy_from_slice(b"FFFD");
    }
    (Cow::Owned(out), fixes.len() as u64)
}

/// The UTF-16 unit of the `\uXXXX` escape at `i`, if there is one.
fn escape_unit(bytes: &[u8], i: usize) -> Option<u32> {
    if bytes.get(i) != Some(&b'\\') || bytes.get(i + 1) != Some(&b'u') {
        return None;
    }
    let hex = std::str::from_utf8(bytes.get(i + 2..i + 6)?).ok()?;
    u32::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_and_lone_surrogates_are_replaced_and_counted() {
        let (clean, replaced) = sanitize(b"[{\"name\":\"a\xffb\xfe\"}]");
        assert_eq!(replaced, 2);
        let value: serde_json::Value = serde_json::from_slice(&clean).unwrap();
        assert_eq!(value[0]["name"], "a\u{FFFD}b\u{FFFD}");

        let (clean, replaced) =
            sanitize(br#"[{"a":"\ud800","b":"\udc00x","c":"\ud83d\ude00","d":"\\ud800","e":"\uD800\u0041"}]"#);
        assert_eq!(replaced, 3);
        let value: serde_json::Value = serde_json::from_slice(&clean).unwrap();
        assert_eq!(value[0]["a"], "\u{FFFD}");
        assert_eq!(value[0]["b"], "\u{FFFD}x");
        assert_eq!(value[0]["c"], "😀");
        assert_eq!(value[0]["d"], "\\ud800", "an escaped backslash is not an escape");
        assert_eq!(value[0]["e"], "\u{FFFD}A");
    }

    #[test]
    fn clean_text_is_borrowed() {
        let page = br#"[{"name":"Zo\u00eb \ud83d\ude00 \u2603"}]"#;
        let (clean, replaced) = sanitize(page);
        assert!(matches!(clean, Cow::Borrowed(_)));
        assert_eq!(replaced, 0);
        // U+FFFD already in the text is not counted.
        assert_eq!(sanitize("[\"\u{FFFD}\"]".as_bytes()).1, 0);
    }
}
