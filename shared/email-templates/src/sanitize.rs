//! Cleaning of the values that go into an email, and of the subject that comes out.
//!
//! Most values come from people outside the organisation (a contact's WhatsApp profile name,
//! an appointment title typed into a calendar), so none of them is trusted:
//! - every value loses its control characters (keeping newline and tab), so that the plain
//!   text part cannot carry terminal escapes, NULs or stray carriage returns;
//! - the HTML part escapes every value (see [`escape_html`], used by the template formatter);
//! - the subject, which becomes a mail header, is flattened to one line ([`subject`]);
//! - links are rendered only for `https://` URLs, or `http://` to the local machine for local
//!   development ([`safe_link`]); anything else (`javascript:`, `data:`, a bare host) is
//!   dropped, together with the button or line that would have shown it.

use std::fmt::{self, Write};

/// Longest subject, in characters. RFC 5322 allows longer (folded) header lines, but inbox
/// lists show around 60 to 90 characters, and a cap keeps a hostile appointment title from
/// producing a header that some relay refuses.
pub(crate) const MAX_SUBJECT_CHARS: usize = 200;

/// `value` without control characters, except newline and tab (which plain text uses).
///
/// `\r` goes too: a CRLF in a value becomes LF, which is what the templates use.
pub(crate) fn clean_text(value: &str) -> String {
    value
        .chars()
        .filter(|&c| !c.is_control() || c == '\n' || c == '\t')
        .collect()
}

/// `value` as one header-safe line: every control character (CR and LF included, as they
/// would end the header and start a new one) and every Unicode line or paragraph separator
/// becomes a space, runs of whitespace become one space, the ends are trimmed, and the result
/// is cut to [`MAX_SUBJECT_CHARS`] characters (ending in `…` when cut).
pub(crate) fn subject(value: &str) -> String {
    let mut flat = String::with_capacity(value.len());
    let mut pending_space = false;
    for c in value.chars() {
        if c.is_control() || c.is_whitespace() {
            // `is_whitespace` covers U+2028/U+2029 and the other separators.
            pending_space = true;
            continue;
        }
        if pending_space && !flat.is_empty() {
            flat.push(' ');
        }
        pending_space = false;
        flat.push(c);
    }
    if flat.chars().count() <= MAX_SUBJECT_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(MAX_SUBJECT_CHARS - 1).collect();
    // Do not leave a dangling space before the ellipsis.
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// `url` if it is safe to render as a link in an email, trimmed; `None` otherwise.
///
/// Accepted: `https://<host>…`, and `http://localhost[:port]…` or `http://127.0.0.1[:port]…`
/// (local development only ever links to the local machine). The scheme is matched without
/// regard to case, as browsers do. Refused: every other scheme (`javascript:`, `data:`,
/// `mailto:`, plain `http://` to anywhere else), an empty host, and any URL with whitespace,
/// control characters or a backslash (browsers read `\` as `/`, which could move where the
/// host ends), so that what the check sees is what the mail client follows.
pub(crate) fn safe_link(url: &str) -> Option<String> {
    let url = url.trim();
    if url
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return None;
    }
    let (rest, local_only) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (rest, false)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (rest, true)
    } else {
        return None;
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if authority.is_empty() {
        return None;
    }
    if local_only {
        // No userinfo: in `http://localhost:1@evil.example` the host is `evil.example`.
        if authority.contains('@') {
            return None;
        }
        let host = authority
            .split_once(':')
            .map_or(authority, |(host, _port)| host);
        if !(host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1") {
            return None;
        }
    }
    Some(url.to_owned())
}

fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// Writes `value` HTML-escaped: `&`, `<`, `>`, `"` and `'` become character references, which
/// makes it safe both as element text and inside a quoted attribute (every attribute in the
/// templates is double-quoted).
///
/// minijinja's own escaper also turns `/` into `&#x2f;`. That protects nothing in these
/// contexts but makes every link (`https:&#x2f;&#x2f;…`), time zone and date in the HTML
/// unreadable to people and to link-checking or click-tracking tools that read the source,
/// so the templates use this one instead (wired in as the environment's formatter).
pub(crate) fn escape_html<W: Write>(out: &mut W, value: &str) -> fmt::Result {
    let mut last = 0;
    for (i, b) in value.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#x27;",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `i` is on a character boundary.
        out.write_str(&value[last..i])?;
        out.write_str(entity)?;
        last = i + 1;
    }
    out.write_str(&value[last..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        escape_html(&mut out, value).unwrap();
        out
    }

    #[test]
    fn clean_text_keeps_newline_and_tab_only() {
        assert_eq!(
            clean_text("a\r\nb\tc\u{0}d\u{1b}[31me\u{7f}f\u{85}g"),
            "a\nb\tcd[31mefg"
        );
        assert_eq!(clean_text("Zoë <x> & \"y\""), "Zoë <x> & \"y\"");
    }

    #[test]
    fn subject_is_one_trimmed_line() {
        assert_eq!(
            subject("  Hello\r\nBcc: victim@example.com \u{2028}x\t\u{0}y  "),
            "Hello Bcc: victim@example.com x y"
        );
        assert_eq!(subject("\r\n"), "");
    }

    #[test]
    fn subject_is_capped_on_a_character_boundary() {
        let long = "é".repeat(500);
        let capped = subject(&long);
        assert_eq!(capped.chars().count(), MAX_SUBJECT_CHARS);
        assert!(capped.ends_with('…'));

        let exact = "a".repeat(MAX_SUBJECT_CHARS);
        assert_eq!(subject(&exact), exact);

        // A cut right after a space leaves no space before the ellipsis.
        let spaced = format!("{} {}", "a".repeat(MAX_SUBJECT_CHARS - 2), "b".repeat(50));
        assert!(subject(&spaced).ends_with("a…"));
    }

    #[test]
    fn safe_link_accepts_https_and_local_http() {
        for ok in [
            "https://billing.example.com/p/session_123?x=1&y=2",
            "HTTPS://example.com",
            "  https://example.com/trimmed  ",
            "http://localhost:3000/billing",
            "http://localhost",
            "http://127.0.0.1:8080/#/conversations/1",
        ] {
            assert_eq!(safe_link(ok).as_deref(), Some(ok.trim()), "{ok}");
        }
    }

    #[test]
    fn safe_link_refuses_everything_else() {
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "mailto:a@example.com",
            "http://example.com",
            "http://localhost.evil.example/",
            "http://localhost:1@evil.example/",
            "http://127.0.0.1.evil.example",
            "https://",
            "https:///path",
            "https://exa mple.com",
            "https://example.com/\r\nX-Header: 1",
            "https://evil.example\\@good.example",
            "//example.com",
            "example.com",
            "",
        ] {
            assert_eq!(safe_link(bad), None, "{bad}");
        }
    }

    #[test]
    fn escape_html_escapes_the_five_characters() {
        assert_eq!(
            escaped("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escaped("Zoë/Ålesund"), "Zoë/Ålesund");
        assert_eq!(escaped(""), "");
    }
}
