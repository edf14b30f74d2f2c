//! Renders every email through the public API: every kind in every locale, with and without
//! its optional values, hostile values, and the date helpers around DST changes.

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use switchboard_email_templates::{
    Email, Locale, Rendered, format_date, format_date_time, format_time, render,
};

const AMSTERDAM: Tz = chrono_tz::Europe::Amsterdam;

/// 2026-12-08 14:30 in Amsterdam (a Tuesday).
fn appointment_time() -> DateTime<Tz> {
    AMSTERDAM.with_ymd_and_hms(2026, 12, 8, 14, 30, 0).unwrap()
}

fn utc_in(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Tz> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .unwrap()
        .with_timezone(&tz)
}

/// One email of every kind, every optional value present.
fn every_kind_full() -> Vec<Email<'static>> {
    vec![
        Email::AppointmentReminder {
            org_name: "Kapsalon Bloem",
            contact_name: "Sanne de Vries",
            title: "Knippen en föhnen",
            starts_at: appointment_time(),
            location: Some("Prinsengracht 12, Amsterdam"),
            notes: Some("Bring your loyalty card.\nParking at the back."),
        },
        Email::TrialEnding {
            org_name: "Kapsalon Bloem",
            trial_end: appointment_time(),
            billing_url: Some("https://app.example.com/billing?org=1&plan=pro"),
        },
        Email::PaymentFailed {
            org_name: "Kapsalon Bloem",
            amount: Some("€49.00"),
            billing_url: Some("https://billing.example.com/p/session_1"),
        },
        Email::SubscriptionCancelled {
            org_name: "Kapsalon Bloem",
            billing_url: Some("https://app.example.com/billing"),
        },
        Email::ConversationAssigned {
            org_name: "Kapsalon Bloem",
            assignee_name: Some("Joost"),
            contact_name: "Sanne de Vries",
            conversation_url: Some("https://app.example.com/conversations/42"),
        },
        Email::WebhookEndpointDisabled {
            org_name: "Kapsalon Bloem",
            endpoint: "Order sync (Zapier)",
            failing_since: appointment_time(),
            settings_url: Some("https://app.example.com/settings/webhooks"),
        },
    ]
}

/// The same emails with every optional value absent.
fn every_kind_minimal() -> Vec<Email<'static>> {
    every_kind_full()
        .into_iter()
        .map(|email| match email {
            Email::AppointmentReminder {
                org_name,
                contact_name,
                title,
                starts_at,
                ..
            } => Email::AppointmentReminder {
                org_name,
                contact_name,
                title,
                starts_at,
                location: None,
                notes: None,
            },
            Email::TrialEnding {
                org_name,
                trial_end,
                ..
            } => Email::TrialEnding {
                org_name,
                trial_end,
                billing_url: None,
            },
            Email::PaymentFailed { org_name, .. } => Email::PaymentFailed {
                org_name,
                amount: None,
                billing_url: None,
            },
            Email::SubscriptionCancelled { org_name, .. } => Email::SubscriptionCancelled {
                org_name,
                billing_url: None,
            },
            Email::ConversationAssigned {
                org_name,
                contact_name,
                ..
            } => Email::ConversationAssigned {
                org_name,
                assignee_name: None,
                contact_name,
                conversation_url: None,
            },
            Email::WebhookEndpointDisabled {
                org_name,
                endpoint,
                failing_since,
                ..
            } => Email::WebhookEndpointDisabled {
                org_name,
                endpoint,
                failing_since,
                settings_url: None,
            },
        })
        .collect()
}

fn rendered(email: &Email<'_>, locale: Locale) -> Rendered {
    render(email, locale).unwrap_or_else(|error| panic!("{} {locale:?}: {error}", email.kind()))
}

/// Asserts that `needle` is in the subject, HTML and text parts.
fn assert_everywhere(out: &Rendered, needle: &str, what: &str) {
    assert!(
        out.subject.contains(needle),
        "{what}: subject lacks {needle:?}: {}",
        out.subject
    );
    assert!(out.html.contains(needle), "{what}: html lacks {needle:?}");
    assert!(out.text.contains(needle), "{what}: text lacks {needle:?}");
}

/// Asserts that `needle` is in the HTML and text parts.
fn assert_in_body(out: &Rendered, needle: &str, what: &str) {
    assert!(out.html.contains(needle), "{what}: html lacks {needle:?}");
    assert!(out.text.contains(needle), "{what}: text lacks {needle:?}");
}

fn assert_not_in_body(out: &Rendered, needle: &str, what: &str) {
    assert!(!out.html.contains(needle), "{what}: html has {needle:?}");
    assert!(!out.text.contains(needle), "{what}: text has {needle:?}");
}

#[test]
fn every_kind_renders_in_every_locale_with_and_without_optionals() {
    for locale in Locale::ALL {
        for email in every_kind_full().iter().chain(&every_kind_minimal()) {
            let what = format!("{} {locale:?} {email:?}", email.kind());
            let out = rendered(email, locale);
            assert!(!out.subject.is_empty(), "{what}");
            assert!(!out.html.is_empty(), "{what}");
            assert!(!out.text.is_empty(), "{what}");
            // The shared frames were used: the org name heads both parts, and the HTML part
            // is a whole document with the subject as its title and the language set.
            assert_in_body(&out, "Kapsalon Bloem", &what);
            assert!(out.text.starts_with("Kapsalon Bloem\n"), "{what}");
            assert!(out.html.starts_with("<!DOCTYPE html>"), "{what}");
            assert!(out.html.trim_end().ends_with("</html>"), "{what}");
            assert!(
                out.html
                    .contains(&format!("<html lang=\"{}\">", locale.tag())),
                "{what}"
            );
            assert!(
                out.html
                    .contains(&format!("<title>{}</title>", out.subject)),
                "{what}"
            );
            // No template printed an absent value or left markup in the text part.
            for part in [&out.subject, &out.text] {
                assert!(!part.contains("none"), "{what}: {part}");
                assert!(
                    !part.contains("{{") && !part.contains("{%"),
                    "{what}: {part}"
                );
                assert!(!part.contains('<'), "{what}: {part}");
            }
            assert!(
                !out.html.contains("{{") && !out.html.contains("{%"),
                "{what}"
            );
            assert!(!out.subject.contains(['\r', '\n']), "{what}");
        }
    }
}

#[test]
fn appointment_reminder_shows_its_values() {
    let [reminder, ..] = every_kind_full()[..] else {
        unreachable!()
    };
    let en = rendered(&reminder, Locale::En);
    assert_eq!(
        en.subject,
        "Reminder: Knippen en föhnen on Tuesday 8 December 2026 at 14:30"
    );
    assert_in_body(&en, "Sanne de Vries", "en");
    assert_in_body(&en, "Knippen en föhnen", "en");
    assert_in_body(
        &en,
        "Tuesday 8 December 2026 at 14:30 (Europe/Amsterdam)",
        "en",
    );
    assert_in_body(&en, "Prinsengracht 12, Amsterdam", "en");
    assert!(
        en.text
            .contains("Bring your loyalty card.\nParking at the back.")
    );
    // Multi-line notes keep their lines in HTML too.
    assert!(
        en.html
            .contains("Bring your loyalty card.<br>\nParking at the back.")
    );
    assert_in_body(&en, "appointment", "en");
    assert_in_body(
        &en,
        "because you have an appointment with Kapsalon Bloem",
        "en",
    );

    let nl = rendered(&reminder, Locale::Nl);
    assert_eq!(
        nl.subject,
        "Herinnering: Knippen en föhnen op dinsdag 8 december 2026 om 14:30"
    );
    assert_in_body(&nl, "afspraak", "nl");
    assert_in_body(&nl, "Beste Sanne de Vries,", "nl");
    assert_in_body(
        &nl,
        "dinsdag 8 december 2026 om 14:30 (Europe/Amsterdam)",
        "nl",
    );
    assert_in_body(&nl, "Prinsengracht 12, Amsterdam", "nl");
    assert_in_body(&nl, "Opmerkingen", "nl");
    assert_not_in_body(&nl, "appointment", "nl");
    assert_not_in_body(&nl, "Tuesday", "nl");
}

#[test]
fn absent_optionals_leave_their_parts_out() {
    for locale in Locale::ALL {
        let minimal = every_kind_minimal();
        let reminder = rendered(&minimal[0], locale);
        assert_not_in_body(&reminder, "Prinsengracht", "reminder");
        assert_not_in_body(&reminder, "loyalty", "reminder");
        assert_not_in_body(&reminder, "Where", "reminder");
        assert_not_in_body(&reminder, "Waar", "reminder");
        assert_not_in_body(&reminder, "Notes", "reminder");
        assert_not_in_body(&reminder, "Opmerkingen", "reminder");

        for email in &minimal[1..] {
            let out = rendered(email, locale);
            // No link at all: the button and the text part's link line are left out.
            assert!(!out.html.contains("href="), "{}", email.kind());
            assert_not_in_body(&out, "https://", email.kind());
        }

        let payment = rendered(&minimal[2], locale);
        assert_not_in_body(&payment, "€", "payment");
        let greeting = match locale {
            Locale::En => "Hi,",
            Locale::Nl => "Hoi,",
        };
        assert_in_body(&rendered(&minimal[4], locale), greeting, "assigned");
    }
}

#[test]
fn billing_and_team_emails_show_their_values() {
    let full = every_kind_full();
    let (trial, payment, cancelled, assigned) = (&full[1], &full[2], &full[3], &full[4]);

    let en = rendered(trial, Locale::En);
    assert_eq!(
        en.subject,
        "Your Switchboard trial for Kapsalon Bloem ends on Tuesday 8 December 2026"
    );
    assert_in_body(&en, "Tuesday 8 December 2026 at 14:30", "trial en");
    // The URL's `&` is escaped in the attribute, and the `/`s are left readable.
    assert!(
        en.html
            .contains(r#"href="https://app.example.com/billing?org=1&amp;plan=pro""#)
    );
    assert!(
        en.text
            .contains("https://app.example.com/billing?org=1&plan=pro")
    );
    let nl = rendered(trial, Locale::Nl);
    assert_in_body(&nl, "proefperiode", "trial nl");
    assert_in_body(&nl, "dinsdag 8 december 2026 om 14:30", "trial nl");
    assert_in_body(&nl, "Abonnement kiezen", "trial nl");

    for locale in Locale::ALL {
        let out = rendered(payment, locale);
        assert_in_body(&out, "€49.00", "payment");
        assert!(
            out.html
                .contains(r#"href="https://billing.example.com/p/session_1""#)
        );
        assert!(out.text.contains("https://billing.example.com/p/session_1"));
    }
    assert_in_body(&rendered(payment, Locale::Nl), "betaling", "payment nl");
    assert_in_body(&rendered(payment, Locale::En), "payment", "payment en");

    assert_in_body(
        &rendered(cancelled, Locale::En),
        "cancelled",
        "cancelled en",
    );
    assert_in_body(
        &rendered(cancelled, Locale::Nl),
        "abonnement",
        "cancelled nl",
    );
    assert_in_body(
        &rendered(cancelled, Locale::Nl),
        "stopgezet",
        "cancelled nl",
    );

    for locale in Locale::ALL {
        let out = rendered(assigned, locale);
        assert_everywhere(&out, "Sanne de Vries", "assigned");
        assert_in_body(&out, "Joost", "assigned");
        assert!(
            out.html
                .contains(r#"href="https://app.example.com/conversations/42""#)
        );
    }
    assert_in_body(&rendered(assigned, Locale::Nl), "gesprek", "assigned nl");
    assert_in_body(
        &rendered(assigned, Locale::En),
        "conversation",
        "assigned en",
    );
}

#[test]
fn webhook_endpoint_disabled_shows_its_values() {
    let full = every_kind_full();
    let disabled = &full[5];
    assert_eq!(disabled.kind(), "webhook_endpoint_disabled");

    let en = rendered(disabled, Locale::En);
    assert_eq!(
        en.subject,
        "Switchboard disabled a webhook endpoint of Kapsalon Bloem"
    );
    assert_in_body(&en, "Order sync (Zapier)", "webhook en");
    assert!(
        en.text
            .contains("since Tuesday 8 December 2026 at 14:30 (Europe/Amsterdam)")
    );
    assert!(
        en.html
            .contains("<strong>Tuesday 8 December 2026 at 14:30</strong> (Europe/Amsterdam)")
    );
    assert_in_body(&en, "disabled", "webhook en");
    assert_in_body(
        &en,
        "because you are an administrator of Kapsalon Bloem",
        "webhook en",
    );
    assert!(
        en.html
            .contains(r#"href="https://app.example.com/settings/webhooks""#)
    );
    assert!(en.html.contains(">Open webhook settings</a>"));
    assert!(
        en.text
            .contains("Open webhook settings: https://app.example.com/settings/webhooks")
    );

    let nl = rendered(disabled, Locale::Nl);
    assert_eq!(
        nl.subject,
        "Switchboard heeft een webhook-endpoint van Kapsalon Bloem uitgeschakeld"
    );
    assert_in_body(&nl, "Order sync (Zapier)", "webhook nl");
    assert!(
        nl.text
            .contains("sinds dinsdag 8 december 2026 om 14:30 (Europe/Amsterdam)")
    );
    assert!(
        nl.html
            .contains("<strong>dinsdag 8 december 2026 om 14:30</strong> (Europe/Amsterdam)")
    );
    assert_in_body(&nl, "uitgeschakeld", "webhook nl");
    assert_in_body(
        &nl,
        "omdat je beheerder bent van Kapsalon Bloem",
        "webhook nl",
    );
    assert!(
        nl.html
            .contains(r#"href="https://app.example.com/settings/webhooks""#)
    );
    assert!(nl.html.contains(">Webhookinstellingen openen</a>"));
    assert_not_in_body(&nl, "Tuesday", "webhook nl");
    assert_not_in_body(&nl, "administrator", "webhook nl");

    // An endpoint without a description is named by its URL's scheme and host (the caller
    // cuts the rest): shown as text, not made into a link.
    for locale in Locale::ALL {
        let out = rendered(
            &Email::WebhookEndpointDisabled {
                org_name: "Kapsalon Bloem",
                endpoint: "https://hooks.example.com",
                failing_since: appointment_time(),
                settings_url: None,
            },
            locale,
        );
        assert_in_body(&out, "https://hooks.example.com", "webhook host");
        assert!(!out.html.contains("href="), "{}", out.html);
        assert!(
            !out.subject.contains("hooks.example.com"),
            "{}",
            out.subject
        );
    }
}

#[test]
fn locale_from_tag() {
    for nl in ["nl", "NL", "nl-NL", "nl_BE", "Nl-be", " nl ", "nl-Latn-NL"] {
        assert_eq!(Locale::from_tag(Some(nl)), Locale::Nl, "{nl}");
    }
    for en in [
        "en", "en-GB", "de", "fr-BE", "nld", "n", "", "-nl", "_nl", "xx-nl",
    ] {
        assert_eq!(Locale::from_tag(Some(en)), Locale::En, "{en}");
    }
    assert_eq!(Locale::from_tag(None), Locale::En);
    assert_eq!(Locale::default(), Locale::En);
    assert_eq!(Locale::En.tag(), "en");
    assert_eq!(Locale::Nl.tag(), "nl");
}

#[test]
fn hostile_names_are_escaped_in_html_and_harmless_in_text() {
    let hostile = "<script>alert(1)</script> \"&<>' Bobby";
    let emails = [
        Email::AppointmentReminder {
            org_name: hostile,
            contact_name: hostile,
            title: hostile,
            starts_at: appointment_time(),
            location: Some(hostile),
            notes: Some(hostile),
        },
        Email::ConversationAssigned {
            org_name: hostile,
            assignee_name: Some(hostile),
            contact_name: hostile,
            conversation_url: None,
        },
        Email::WebhookEndpointDisabled {
            org_name: hostile,
            endpoint: hostile,
            failing_since: appointment_time(),
            settings_url: None,
        },
    ];
    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&amp;&lt;&gt;&#x27; Bobby";
    for locale in Locale::ALL {
        for email in &emails {
            let out = rendered(email, locale);
            assert!(!out.html.contains("<script"), "{}", out.html);
            assert!(!out.html.contains("\"&<>"), "{}", out.html);
            assert!(out.html.contains(escaped), "{}", out.html);
            // The text part is not HTML: the name is there as typed, which a mail client
            // shows as text.
            assert!(out.text.contains(hostile), "{}", out.text);
            assert!(!out.text.contains("&lt;"), "{}", out.text);
            assert!(out.subject.contains(hostile), "{}", out.subject);
        }
    }
}

#[test]
fn control_characters_are_stripped_from_the_text_part() {
    let email = Email::AppointmentReminder {
        org_name: "Kapsalon Bloem",
        contact_name: "Sanne\u{1b}[2J\u{0}\u{7}",
        title: "Knippen",
        starts_at: appointment_time(),
        location: None,
        notes: Some("line one\r\nline\ttwo\u{8}"),
    };
    for locale in Locale::ALL {
        let out = rendered(&email, locale);
        for part in [&out.subject, &out.html, &out.text] {
            assert!(
                !part
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{part:?}"
            );
        }
        assert!(out.text.contains("Sanne[2J"));
        assert!(out.text.contains("line one\nline\ttwo"));
    }
}

#[test]
fn line_breaks_in_a_title_do_not_reach_the_subject() {
    let email = Email::AppointmentReminder {
        org_name: "Kapsalon Bloem",
        contact_name: "Sanne",
        title: "Knippen\r\nBcc: everyone@example.com\r\n\r\n<html>",
        starts_at: appointment_time(),
        location: None,
        notes: None,
    };
    for locale in Locale::ALL {
        let out = rendered(&email, locale);
        assert!(!out.subject.contains(['\r', '\n']), "{:?}", out.subject);
        assert!(
            out.subject
                .contains("Knippen Bcc: everyone@example.com <html>"),
            "{:?}",
            out.subject
        );
    }
}

#[test]
fn a_long_title_caps_the_subject() {
    let title = "Behandeling ".repeat(50);
    let email = Email::AppointmentReminder {
        org_name: "Kapsalon Bloem",
        contact_name: "Sanne",
        title: &title,
        starts_at: appointment_time(),
        location: None,
        notes: None,
    };
    let out = rendered(&email, Locale::Nl);
    assert_eq!(out.subject.chars().count(), 200);
    assert!(out.subject.ends_with('…'));
    // The body keeps the whole title.
    assert!(out.text.contains(title.trim_end()));
}

#[test]
fn unsafe_links_are_not_rendered() {
    for url in [
        "javascript:alert(document.cookie)",
        "JAVASCRIPT:alert(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "http://billing.example.com",
        "vbscript:msgbox",
        "https://example.com/\" onmouseover=\"alert(1)",
    ] {
        let emails = [
            Email::TrialEnding {
                org_name: "Kapsalon Bloem",
                trial_end: appointment_time(),
                billing_url: Some(url),
            },
            Email::PaymentFailed {
                org_name: "Kapsalon Bloem",
                amount: None,
                billing_url: Some(url),
            },
            Email::SubscriptionCancelled {
                org_name: "Kapsalon Bloem",
                billing_url: Some(url),
            },
            Email::ConversationAssigned {
                org_name: "Kapsalon Bloem",
                assignee_name: None,
                contact_name: "Sanne",
                conversation_url: Some(url),
            },
            Email::WebhookEndpointDisabled {
                org_name: "Kapsalon Bloem",
                endpoint: "Order sync",
                failing_since: appointment_time(),
                settings_url: Some(url),
            },
        ];
        for locale in Locale::ALL {
            for email in &emails {
                let out = rendered(email, locale);
                assert!(!out.html.contains("href="), "{url}: {}", out.html);
                let scheme = url.split(':').next().unwrap();
                assert_not_in_body(&out, &format!("{scheme}:"), url);
                assert_not_in_body(&out, "alert", url);
            }
        }
    }
}

#[test]
fn local_development_links_are_rendered() {
    let email = Email::SubscriptionCancelled {
        org_name: "Kapsalon Bloem",
        billing_url: Some("http://localhost:3000/billing"),
    };
    let out = rendered(&email, Locale::En);
    assert!(out.html.contains(r#"href="http://localhost:3000/billing""#));
    assert!(out.text.contains("http://localhost:3000/billing"));
}

#[test]
fn month_and_day_names() {
    // 2026-12-08 is a Tuesday.
    let dt = appointment_time();
    assert_eq!(format_date(&dt, Locale::En), "Tuesday 8 December 2026");
    assert_eq!(format_date(&dt, Locale::Nl), "dinsdag 8 december 2026");
    assert_eq!(format_time(&dt, Locale::En), "14:30");
    assert_eq!(format_time(&dt, Locale::Nl), "14:30");
    assert_eq!(
        format_date_time(&dt, Locale::En),
        "Tuesday 8 December 2026 at 14:30"
    );
    assert_eq!(
        format_date_time(&dt, Locale::Nl),
        "dinsdag 8 december 2026 om 14:30"
    );

    // Every weekday (2026-01-05 is a Monday) and every month, with a padded early time.
    let en_days = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let nl_days = [
        "maandag",
        "dinsdag",
        "woensdag",
        "donderdag",
        "vrijdag",
        "zaterdag",
        "zondag",
    ];
    for (i, (en, nl)) in en_days.iter().zip(nl_days).enumerate() {
        let day = AMSTERDAM
            .with_ymd_and_hms(2026, 1, 5 + i as u32, 9, 5, 0)
            .unwrap();
        assert!(format_date(&day, Locale::En).starts_with(&format!("{en} ")));
        assert!(format_date(&day, Locale::Nl).starts_with(&format!("{nl} ")));
        assert_eq!(format_time(&day, Locale::En), "09:05");
    }
    let en_months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let nl_months = [
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    ];
    for (i, (en, nl)) in en_months.iter().zip(nl_months).enumerate() {
        let first = AMSTERDAM
            .with_ymd_and_hms(2027, i as u32 + 1, 1, 0, 0, 0)
            .unwrap();
        assert!(format_date(&first, Locale::En).ends_with(&format!(" 1 {en} 2027")));
        assert!(format_date(&first, Locale::Nl).ends_with(&format!(" 1 {nl} 2027")));
    }
}

#[test]
fn wall_clock_time_across_amsterdam_dst_changes() {
    // Spring forward on 2026-03-29: 01:00 UTC is 02:00 CET becoming 03:00 CEST.
    let before = utc_in(AMSTERDAM, 2026, 3, 29, 0, 30);
    assert_eq!(
        format_date_time(&before, Locale::En),
        "Sunday 29 March 2026 at 01:30"
    );
    let after = utc_in(AMSTERDAM, 2026, 3, 29, 1, 30);
    assert_eq!(
        format_date_time(&after, Locale::En),
        "Sunday 29 March 2026 at 03:30"
    );
    assert_eq!(
        format_date_time(&after, Locale::Nl),
        "zondag 29 maart 2026 om 03:30"
    );

    // Fall back on 2026-10-25: 01:00 UTC is 03:00 CEST becoming 02:00 CET, so 02:30
    // happens twice, an hour apart.
    let first = utc_in(AMSTERDAM, 2026, 10, 25, 0, 30);
    let second = utc_in(AMSTERDAM, 2026, 10, 25, 1, 30);
    assert_eq!(format_time(&first, Locale::En), "02:30");
    assert_eq!(format_time(&second, Locale::En), "02:30");
    assert_eq!(format_date(&second, Locale::Nl), "zondag 25 oktober 2026");
    assert_eq!(
        format_time(&utc_in(AMSTERDAM, 2026, 10, 25, 2, 30), Locale::Nl),
        "03:30"
    );
}

#[test]
fn wall_clock_time_in_new_york() {
    let new_york: Tz = chrono_tz::America::New_York;
    // 2026-03-08: 07:00 UTC is 02:00 EST becoming 03:00 EDT.
    assert_eq!(
        format_time(&utc_in(new_york, 2026, 3, 8, 6, 30), Locale::En),
        "01:30"
    );
    assert_eq!(
        format_time(&utc_in(new_york, 2026, 3, 8, 7, 30), Locale::En),
        "03:30"
    );
    // 2026-11-01: 06:00 UTC is 02:00 EDT becoming 01:00 EST; 01:30 happens twice.
    assert_eq!(
        format_time(&utc_in(new_york, 2026, 11, 1, 5, 30), Locale::En),
        "01:30"
    );
    assert_eq!(
        format_time(&utc_in(new_york, 2026, 11, 1, 6, 30), Locale::En),
        "01:30"
    );
    // Late evening in New York is already the next day in UTC: the local date is printed.
    let evening = utc_in(new_york, 2026, 12, 9, 3, 15);
    assert_eq!(
        format_date_time(&evening, Locale::En),
        "Tuesday 8 December 2026 at 22:15"
    );
    assert_eq!(
        format_date_time(&evening, Locale::Nl),
        "dinsdag 8 december 2026 om 22:15"
    );

    // The reminder prints the same wall-clock time and names the zone.
    let email = Email::AppointmentReminder {
        org_name: "Brooklyn Dental",
        contact_name: "Sam",
        title: "Check-up",
        starts_at: evening,
        location: None,
        notes: None,
    };
    let out = rendered(&email, Locale::En);
    assert_in_body(
        &out,
        "Tuesday 8 December 2026 at 22:15 (America/New_York)",
        "ny",
    );
}
