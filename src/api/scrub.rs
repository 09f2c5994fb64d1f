//! Keeps the access token out of everything an answer carries. A proxy's error page or a debug
//! endpoint may echo the request's `Authorization` header back; whatever a body holds ends up in
//! error messages, retry warnings, or the data itself. Every body is searched for the token (as
//! it is, JSON-escaped and percent-encoded) and each occurrence replaced by [`REDACTED`] before
//! anything reads it. A page is searched once, for the token's longest run of letters and digits
//! (the same in every spelling), with memchr's substring search, at memory speed; only a page
//! where that run turns up is searched for each spelling.

use bytes::Bytes;
use memchr::memmem::Finder;

/// What stands where the token stood.
pub(crate) const REDACTED: &[u8] = b"[REDACTED]";

/// The token's spellings, each with its searcher.
pub(crate) struct Scrubber {
    /// The longest run of ASCII letters and digits in the token, when long enough to be telling.
    telltale: Option<Finder<'static>>,
    finders: Vec<Finder<'static>>,
}

/// A run shorter than this turns up in ordinary pages too often to save the full search.
const MIN_TELLTALE: usize = 8;

impl Scrubber {
    pub(crate) fn new(token: &str) -> Scrubber {
        let mut spellings = vec![token.to_string()];
        // JSON may escape `/` and must escape `"` and `\`.
        let json = serde_json::to_string(token).unwrap_or_default();
        if let Some(inner) = json.strip_prefix('"').and_then(|j| j.strip_suffix('"')) {
            spellings.push(inner.to_string());
        }
        spellings.push(token.replace('/', "\\/"));
        spellings.push(url::form_urlencoded::byte_serialize(token.as_bytes()).collect());
        spellings.push(
            token
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect(),
        );
        spellings.sort();
        spellings.dedup();
        spellings.retain(|s| !s.is_empty());
        let longest = token.split(|c: char| !c.is_ascii_alphanumeric()).max_by_key(|run| run.len()).unwrap_or("");
        let telltale = (longest.len() >= MIN_TELLTALE).then(|| Finder::new(longest.as_bytes()).into_owned());
        Scrubber { telltale, finders: spellings.into_iter().map(|s| Finder::new(s.as_bytes()).into_owned()).collect() }
    }

    /// `body` with every spelling of the token replaced; the same bytes, not copied, when it holds
    /// none. Only a whole occurrence counts, one not inside a longer run of letters and digits: a
    /// token that is part of another word is not the token, and replacing it would change data
    /// (a test token `x` would otherwise rewrite every `next` key of a page).
    pub(crate) fn scrub(&self, body: Bytes) -> Bytes {
        if self.telltale.as_ref().is_some_and(|telltale| telltale.find(&body).is_none()) {
            return body;
        }
        let mut body = body;
        for finder in &self.finders {
            let needle = finder.needle();
            let whole = |at: &usize| {
                let joins = |a: Option<&u8>, b: Option<&u8>| {
                    a.zip(b).is_some_and(|(a, b)| a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric())
                };
                !joins(at.checked_sub(1).and_then(|i| body.get(i)), needle.first())
                    && !joins(needle.last(), body.get(at + needle.len()))
            };
            let found: Vec<usize> = finder.find_iter(&body).filter(whole).collect();
            if found.is_empty() {
                continue;
            }
            let mut out = Vec::with_capacity(body.len());
            let mut at = 0;
            for start in found {
                out.extend_from_slice(&body[at..start]);
                out.extend_from_slice(REDACTED);
                at = start + needle.len();
            }
            out.extend_from_slice(&body[at..]);
            body = Bytes::from(out);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_token_is_replaced() {
        let scrubber = Scrubber::new("s3cr3t/tok+en=");
        let body = br#"{"errors":[{"message":"bad token s3cr3t/tok+en= (s3cr3t\/tok+en=) in ?t=s3cr3t%2Ftok%2Ben%3D"}]}"#;
        let clean = scrubber.scrub(Bytes::from_static(body));
        let text = String::from_utf8(clean.to_vec()).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert_eq!(text.matches("[REDACTED]").count(), 3, "{text}");
        serde_json::from_str::<serde_json::Value>(&text).expect("still JSON");
    }

    #[test]
    fn a_long_token_is_found_by_its_telltale_in_every_spelling() {
        let scrubber = Scrubber::new("dG9rZW4xMjM0NTY3/89+x=");
        assert!(scrubber.telltale.is_some());
        let body = br#"{"m":"a dG9rZW4xMjM0NTY3\/89+x= b dG9rZW4xMjM0NTY3%2F89%2Bx%3D"}"#;
        let text = String::from_utf8(scrubber.scrub(Bytes::from_static(body)).to_vec()).unwrap();
        assert!(!text.contains("dG9rZW4xMjM0NTY3"), "{text}");
        assert_eq!(text.matches("[REDACTED]").count(), 2, "{text}");
    }

    #[test]
    fn only_whole_occurrences_are_the_token() {
        let scrubber = Scrubber::new("x");
        let body = br#"{"pages":{"next":{"starting_after":"x"}},"note":"x-ray x"}"#;
        let text = String::from_utf8(scrubber.scrub(Bytes::from_static(body)).to_vec()).unwrap();
        assert_eq!(text, r#"{"pages":{"next":{"starting_after":"[REDACTED]"}},"note":"[REDACTED]-ray [REDACTED]"}"#);
    }

    #[test]
    fn a_body_without_the_token_is_not_copied() {
        let scrubber = Scrubber::new("tok");
        let body = Bytes::from_static(b"{\"data\":[]}");
        let clean = scrubber.scrub(body.clone());
        assert_eq!(clean.as_ptr(), body.as_ptr());
    }
}
