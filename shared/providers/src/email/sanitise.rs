//! Text from and for providers, made safe: error reasons to store and log, display names
//! to put in a header.
//!
//! Error reasons: providers' reasons are worth keeping ("domain not verified", "User
//! unknown"), but they often quote the address they refused (`550 5.1.1
//! <ann@example.org>: …`), and an error ends up in the email record, the logs and the
//! DLQ. So every address-like token is masked with [`mask_email`], any secret that was
//! sent is cut out, line breaks are flattened (a reason cannot forge a log line), and
//! the text is bounded.

use switchboard_core::privacy::mask_email;

/// The sender's display name as every provider shows it: trimmed, without quotes, angle
/// brackets, backslashes or control characters (the same clean-up as
/// [`switchboard_core::email::OutgoingEmail::from_header`], so a name cannot forge
/// another address), `None` when nothing is left.
pub(crate) fn display_name(name: Option<&str>) -> Option<String> {
    let clean: String = name?
        .chars()
        .filter(|c| !matches!(c, '"' | '<' | '>' | '\\') && !c.is_control())
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// Shortest secret cut out of a reason.
const MIN_SECRET_CHARS: usize = 8;

/// Longest reason kept, in characters.
const MAX_CHARS: usize = 300;

/// `message` with addresses masked, each of `secrets` (of at least [`MIN_SECRET_CHARS`])
/// replaced by `<redacted>`, control characters turned into spaces, and at most
/// [`MAX_CHARS`] characters.
pub(crate) fn provider_message(message: &str, secrets: &[&str]) -> String {
    let mut text = message.to_owned();
    // A short "secret" (a test password, a PIN-like SMTP password) would match ordinary
    // words; API keys and real passwords are longer, and no provider echoes them anyway.
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_CHARS) {
        text = text.replace(secret, "<redacted>");
    }
    let text = mask_addresses(&text);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_CHARS)
        .collect();
    if text.chars().count() > MAX_CHARS {
        out.push('…');
    }
    out.trim().to_owned()
}

/// Characters that may stand next to an `@` in an address as providers print them. The
/// local part is taken generously (a masked word too many is harmless; an address
/// left whole is not).
fn local_char(c: char) -> bool {
    c.is_alphanumeric() || "!#$%&'*+/=?^_{|}~.-".contains(c)
}

fn domain_char(c: char) -> bool {
    c.is_alphanumeric() || c == '.' || c == '-'
}

fn mask_addresses(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    // Where the text copied unchanged since the last masked address starts.
    let mut copied_from = 0;
    while i < chars.len() {
        if chars[i] != '@' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Walk back over the local part already copied, and forward over the domain.
        let mut start = i;
        while start > copied_from && local_char(chars[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < chars.len() && domain_char(chars[end]) {
            end += 1;
        }
        // A trailing dot ends the sentence, not the domain.
        while end > i + 1 && chars[end - 1] == '.' {
            end -= 1;
        }
        let local: String = chars[start..i].iter().collect();
        let domain: String = chars[i + 1..end].iter().collect();
        for _ in start..i {
            out.pop();
        }
        out.push_str(&mask_email(&format!("{local}@{domain}")));
        i = end;
        copied_from = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_masked_and_secrets_cut() {
        let m = provider_message(
            "550 5.1.1 <ann.smith@example.org>: Recipient address rejected; key re_live_123\r\nInjected: yes",
            &["re_live_123"],
        );
        assert_eq!(
            m,
            "550 5.1.1 <a***@example.org>: Recipient address rejected; key <redacted>  Injected: yes"
        );
        assert_eq!(
            provider_message("Invalid `to` field: 'bob@x.io'.", &[]),
            "Invalid `to` field: '***@x.io'."
        );
        assert_eq!(provider_message("at @ sign", &[]), "at *** sign");
        assert_eq!(provider_message("a p in text", &["p"]), "a p in text");
        assert_eq!(provider_message("a@b@c.org x", &[]), "a***@b*** x");
        assert_eq!(
            display_name(Some(" \"Acme\" <x@evil>\r\n")).as_deref(),
            Some("Acme x@evil")
        );
        assert_eq!(display_name(Some(" \r ")), None);
        assert_eq!(display_name(None), None);
        let long = "x".repeat(1000);
        assert_eq!(provider_message(&long, &[]).chars().count(), MAX_CHARS + 1);
    }
}
