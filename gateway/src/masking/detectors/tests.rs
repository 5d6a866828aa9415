use super::*;

fn only(kind: Kind) -> DetectorSet {
    DetectorSet::new([kind].into_iter().collect())
}

/// Every detector, compiled once for all tests.
fn all() -> DetectorSet {
    static ALL: std::sync::LazyLock<DetectorSet> =
        std::sync::LazyLock::new(|| DetectorSet::new(KindSet::all()));
    ALL.clone()
}

/// Each text is detected as `kind` alone, with every detector on too, and
/// the whole value is replaced.
fn assert_detected(kind: Kind, texts: &[&str]) {
    let expected = format!("<[redacted {kind}]>");
    for text in texts {
        let wrapped = format!("<{text}>");
        assert_eq!(
            only(kind).redact(&wrapped).as_deref(),
            Some(expected.as_str()),
            "{kind} should find {text:?}"
        );
        assert_eq!(
            all().redact(&wrapped).as_deref(),
            Some(expected.as_str()),
            "all detectors on {text:?}"
        );
    }
}

/// No detector at all finds anything in these.
fn assert_clean(texts: &[&str]) {
    let detectors = all();
    for text in texts {
        assert_eq!(detectors.redact(text), None, "{text:?} is not sensitive");
    }
}

/// Values that look like numbers or tokens and are neither personal nor secret.
const LOOK_ALIKES: [&str; 16] = [
    "order 4155552671 shipped",
    "id 1234567890",
    "2024-01-15",
    "2024-01-15T10:20:30Z",
    "2024-01-15 10:20:30.123456+00",
    "15.01.2024",
    "123e4567-e89b-12d3-a456-426614174000",
    "3f786850e387550fdab836ed7e6dc881de23001b",
    "commit 3f78685 on 2024-01-15",
    "192.168.100.200",
    "version 1.22.333",
    "total 1 234 567.89",
    "epoch ms 1700000000004",
    "price +12 34",
    "user@localhost",
    "",
];

#[test]
fn look_alikes_are_left_alone() {
    assert_clean(&LOOK_ALIKES);
    assert_clean(&["plain text with nothing to hide", "Zoë, café, 東京"]);
}

#[test]
fn emails() {
    assert_detected(
        Kind::Email,
        &[
            "ann@example.com",
            "ann.lee+tag@mail.example.co.uk",
            "A_B%c@x-y.io",
        ],
    );
    assert_eq!(
        only(Kind::Email)
            .redact("write to ann@example.com or bob@example.org.")
            .as_deref(),
        Some("write to [redacted email] or [redacted email].")
    );
    assert_clean(&["ann@", "@example.com", "a@b", "name at example dot com"]);
}

#[test]
fn phones() {
    assert_detected(
        Kind::Phone,
        &[
            "+1 (555) 123-4567",
            "+44 20 7946 0958",
            "+49-30-1234567",
            "+33 1 23 45 67 89",
            "+14155552671",
            "(555) 123-4567",
            "555-123-4567",
            "555.123.4567",
            "1-800-555-1234",
            "1 (555) 123-4567",
            "020 7946 0958",
            "07700 900123",
            "06 12 34 56 78",
        ],
    );
    assert_eq!(
        only(Kind::Phone)
            .redact("call (555) 123-4567, or +44 20 7946 0958.")
            .as_deref(),
        Some("call [redacted phone], or [redacted phone].")
    );
    // Part of a longer dashed, dotted or spaced number; too few digits after a +.
    assert_clean(&[
        "ORD-555-123-4567",
        "10.555.123.4567",
        "555-123-4567-89",
        "3704 0044 0532 0130 01",
        "+1 234",
    ]);
    assert_eq!(
        only(Kind::Phone)
            .redact("555-123-4567 555-987-6543")
            .as_deref(),
        Some("[redacted phone] [redacted phone]")
    );
    // An international number is cut back to the groups that fit E.164.
    assert_eq!(
        only(Kind::Phone).redact("+44 20 7946 0958 6789").as_deref(),
        Some("[redacted phone] 6789")
    );
}

#[test]
fn cards() {
    assert_detected(
        Kind::Card,
        &[
            "4111111111111111",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "5555555555554444",
            "3782 822463 10005",
        ],
    );
    assert_eq!(
        only(Kind::Card)
            .redact("card 4111 1111 1111 1111 exp 12/29")
            .as_deref(),
        Some("card [redacted card] exp 12/29")
    );
    // A rejected candidate does not hide the card that ends it, nor a
    // longer run of groups the card that starts it.
    assert_eq!(
        only(Kind::Card)
            .redact("ref 1234 4111 1111 1111 1111")
            .as_deref(),
        Some("ref 1234 [redacted card]")
    );
    assert_eq!(
        only(Kind::Card)
            .redact("4111 1111 1111 1111 45 x")
            .as_deref(),
        Some("[redacted card] 45 x")
    );
    // After what looks like the start of an IBAN (a card wins over a guess).
    assert_eq!(
        all().redact("DE89 4111 1111 1111 1111").as_deref(),
        Some("DE89 [redacted card]")
    );
    assert_clean(&[
        // Luhn-invalid.
        "4111 1111 1111 1112",
        "4111111111111112",
        // Luhn-valid, but no issuer starts with 9, and the groupings are no card's.
        "9000000000000001",
        "4111 11111111 1111",
        "3704 0044 0532 0130 01",
        "4111 1111-1111 1111",
        // Too short.
        "411111111111",
    ]);
}

#[test]
fn national_ids() {
    assert_detected(
        Kind::NationalId,
        &[
            "123-45-6789",
            "078-05-1120",
            "AB 12 34 56 C",
            "AB123456C",
            "JG103759A",
        ],
    );
    assert_clean(&[
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "123-45-6789-1",
        "GB123456C",
        "DA123456C",
        "AB12 3456C",
    ]);
}

#[test]
fn ibans() {
    assert_detected(
        Kind::Iban,
        &[
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "GB82 WEST 1234 5698 7654 32",
            "GB82WEST12345698765432",
            "LY83002048000020100120361",
        ],
    );
    // The country's length tells where the IBAN ends and the next word
    // (here one that looks like one more group) starts.
    assert_eq!(
        only(Kind::Iban)
            .redact("pay BE68 5390 0754 7034 ABCD now")
            .as_deref(),
        Some("pay [redacted iban] ABCD now")
    );
    assert_clean(&[
        // Wrong check digits.
        "DE89 3704 0044 0532 0130 01",
        "GB83WEST12345698765432",
        // Too short for its country.
        "GB82 WEST 1234 5698 7654 3",
    ]);
}

const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

#[test]
fn jwts() {
    assert_detected(
        Kind::Jwt,
        &[
            JWT,
            // alg none: empty signature; a payload written with a space.
            "eyJhbGciOiJub25lIn0.eyAic3ViIjogMSB9.",
        ],
    );
    assert_eq!(
        only(Kind::Jwt)
            .redact(&format!("Authorization: Bearer {JWT}"))
            .as_deref(),
        Some("Authorization: Bearer [redacted jwt]")
    );
    assert_clean(&[
        // Base64url-looking segments that do not decode to JSON objects.
        "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0.abc",
        "eyJfoo.eyJbar.baz",
        // A JSON array as payload ("[1]").
        "eyJhbGciOiJub25lIn0.WzFd.sig",
    ]);
}

#[test]
fn access_keys() {
    assert_detected(
        Kind::AccessKey,
        &[
            "AKIAIOSFODNN7EXAMPLE",
            "ASIAY34FZKBOKMUTVV7A",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "gho_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW",
            "glpat-abcdefghij0123456789",
            "xoxb-123456789012-abcdefghijkl",
            "AIzaSyA1234567890abcdefghijklmnopqrstuv",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "rk_live_4eC39HqLyjWDarjtT1zdp7dc",
        ],
    );
    assert_clean(&[
        "AKIA1234",
        "ghp_short",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "XAKIAIOSFODNN7EXAMPLE",
    ]);
}

#[test]
fn private_keys_are_redacted_through_their_end_line() {
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\naFDrBz9vFqU4yQ==\n-----END RSA PRIVATE KEY-----";
    assert_detected(Kind::PrivateKey, &[key]);
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----";
    assert_eq!(
        only(Kind::PrivateKey)
            .redact(&format!("key:\n{openssh}\nthanks"))
            .as_deref(),
        Some("key:\n[redacted private-key]\nthanks")
    );
    // No END line: everything from BEGIN on is key material.
    assert_eq!(
        only(Kind::PrivateKey)
            .redact("x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC")
            .as_deref(),
        Some("x [redacted private-key]")
    );
    assert_clean(&["-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"]);
}

#[test]
fn overlapping_detections_become_one() {
    // An access key id inside a key block is part of the block.
    let text = "-----BEGIN PRIVATE KEY-----\nAKIAIOSFODNN7EXAMPLE ann@example.com\n-----END PRIVATE KEY-----";
    assert_eq!(
        all().redact(text).as_deref(),
        Some("[redacted private-key]")
    );
    let mixed = "ann@example.com, 4111 1111 1111 1111, 123-45-6789";
    assert_eq!(
        all().redact(mixed).as_deref(),
        Some("[redacted email], [redacted card], [redacted national-id]")
    );
}

#[test]
fn only_enabled_kinds_are_detected() {
    let emails = only(Kind::Email);
    assert_eq!(emails.redact("4111 1111 1111 1111"), None);
    assert_eq!(emails.redact(JWT), None);
    let empty = DetectorSet::new(KindSet::default());
    assert!(empty.is_empty());
    assert_eq!(empty.redact("ann@example.com"), None);
    assert!(DetectorSet::default().is_empty());
}

#[test]
fn non_ascii_text_around_a_detection_is_kept() {
    assert_eq!(
        all().redact("Zoë: ann@example.com — 東京").as_deref(),
        Some("Zoë: [redacted email] — 東京")
    );
}

#[test]
fn kind_names_round_trip() {
    for kind in Kind::ALL {
        assert_eq!(Kind::from_name(kind.name()), Some(kind));
    }
    assert_eq!(Kind::from_name("ssn"), None);
    let set: KindSet = [Kind::Jwt, Kind::Email].into_iter().collect();
    assert_eq!(set.iter().collect::<Vec<_>>(), [Kind::Email, Kind::Jwt]);
    assert!(KindSet::all().contains(Kind::PrivateKey));
    assert_eq!(format!("{:?}", only(Kind::Iban)), "DetectorSet([\"iban\"])");
}

mod properties {
    use proptest::prelude::*;

    use super::{all, JWT};

    /// Fragments that come close to every pattern, to splice at random.
    const PIECES: &[&str] = &[
        "4111",
        "1111",
        "0",
        "12",
        "345",
        "6789",
        " ",
        "-",
        ".",
        "(",
        ")",
        "+44",
        "@",
        "ann",
        "example.com",
        "eyJ",
        "hbGci",
        "AKIA",
        "ghp_",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "DE89",
        "GB",
        "AB",
        "C",
        "é",
        "東京",
        "_",
        "\n",
        "/",
        ":",
    ];

    /// Values that must not survive wherever they stand between spaces.
    const SECRETS: &[&str] = &[
        "4111 1111 1111 1111",
        "ann@example.com",
        "123-45-6789",
        "AKIAIOSFODNN7EXAMPLE",
        "DE89 3704 0044 0532 0130 00",
        "+44 20 7946 0958",
        JWT,
    ];

    fn spliced() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// Any text: no panic (every slice falls on a character boundary).
        #[test]
        fn arbitrary_text(text in ".{0,200}") {
            if let Some(out) = all().redact(&text) {
                prop_assert!(out.contains("[redacted "));
            }
        }

        /// Near misses of every pattern: no panic, and a redaction changes the text.
        #[test]
        fn spliced_near_misses(text in spliced()) {
            if let Some(out) = all().redact(&text) {
                prop_assert_ne!(out, text);
            }
        }

        /// A secret set off by spaces is found whatever surrounds it. (The pieces
        /// around it may hold the same characters where they are not that secret, as
        /// in `ann@example.com4111`: only the copy set off by spaces must go.)
        #[test]
        fn secrets_never_survive(
            before in spliced(),
            after in spliced(),
            secret in prop::sample::select(SECRETS),
        ) {
            let text = format!("{before} {secret} {after}");
            let out = all().redact(&text).unwrap_or_else(|| text.clone());
            let elsewhere = before.matches(secret).count() + after.matches(secret).count();
            prop_assert!(out.matches(secret).count() <= elsewhere, "{text:?} -> {out:?}");
        }
    }
}
