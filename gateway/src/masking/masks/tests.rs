use std::os::unix::fs::PermissionsExt;

use super::*;

const TEXT: u32 = 25;
const VARCHAR: u32 = 1043;
const BPCHAR: u32 = 1042;
const NAME: u32 = 19;
const UNKNOWN: u32 = 705;
const INT4: u32 = 23;
const JSONB: u32 = 3802;
const TEXT_ARRAY: u32 = 1009;

fn key() -> HashKey {
    HashKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap()
}

/// The cell a mask writes, or None for NULL.
fn masked(mask: &Mask, value: &str, type_oid: u32, binary: bool) -> Option<String> {
    let key = key();
    let mut out = b"prefix:".to_vec();
    let kept = mask.apply(value.as_bytes(), type_oid, binary, Some(&key), &mut out);
    let written = String::from_utf8(out).unwrap();
    let cell = written
        .strip_prefix("prefix:")
        .expect("earlier bytes are kept");
    if kept {
        Some(cell.to_owned())
    } else {
        assert_eq!(cell, "", "a NULL cell writes nothing");
        None
    }
}

fn redact(text: &str) -> Mask {
    Mask::Redact { text: text.into() }
}

#[test]
fn every_mask_writes_the_same_text_in_both_formats_of_every_text_like_type() {
    for mask in [
        redact("****"),
        Mask::PartialEmail,
        Mask::PartialCard,
        Mask::Hash,
    ] {
        let expected = masked(&mask, "ann@example.com", TEXT, false).unwrap();
        for type_oid in [TEXT, VARCHAR, BPCHAR, NAME, UNKNOWN] {
            for binary in [false, true] {
                assert_eq!(
                    masked(&mask, "ann@example.com", type_oid, binary).as_deref(),
                    Some(expected.as_str()),
                    "{mask:?} on type {type_oid}, binary {binary}"
                );
            }
        }
    }
}

#[test]
fn other_types_become_null_in_both_formats() {
    for mask in [
        redact("****"),
        Mask::PartialEmail,
        Mask::PartialCard,
        Mask::Hash,
        Mask::Null,
    ] {
        for type_oid in [INT4, JSONB, TEXT_ARRAY] {
            for binary in [false, true] {
                assert_eq!(masked(&mask, "42", type_oid, binary), None, "{mask:?}");
            }
        }
    }
}

#[test]
fn null_is_always_null() {
    assert_eq!(masked(&Mask::Null, "secret", TEXT, false), None);
    assert_eq!(masked(&Mask::Null, "secret", VARCHAR, true), None);
}

#[test]
fn redact_writes_its_text() {
    assert_eq!(
        masked(&redact("****"), "123-45-6789", TEXT, false).as_deref(),
        Some("****")
    );
    let default = Mask::from_name("redact", None).unwrap();
    assert_eq!(
        masked(&default, "x", TEXT, false).as_deref(),
        Some(DEFAULT_REDACT_TEXT)
    );
}

#[test]
fn partial_email_keeps_only_the_domain() {
    let m = Mask::PartialEmail;
    assert_eq!(
        masked(&m, "ann@example.com", TEXT, false).as_deref(),
        Some("****@example.com")
    );
    // The stars do not tell how long the mailbox was.
    assert_eq!(
        masked(&m, "a.very.long.name@example.com", TEXT, false).as_deref(),
        Some("****@example.com")
    );
    // The last @ separates the domain ("a@b"@example.com is a valid address).
    assert_eq!(
        masked(&m, "\"a@b\"@example.com", TEXT, false).as_deref(),
        Some("****@example.com")
    );
    for no_domain in ["not an address", "ann@", ""] {
        assert_eq!(
            masked(&m, no_domain, TEXT, false).as_deref(),
            Some(DEFAULT_REDACT_TEXT),
            "{no_domain:?}"
        );
    }
}

#[test]
fn partial_card_keeps_the_last_four_digits() {
    let m = Mask::PartialCard;
    for card in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
    ] {
        assert_eq!(
            masked(&m, card, TEXT, false).as_deref(),
            Some("**** **** **** 1111"),
            "{card}"
        );
    }
    assert_eq!(
        masked(&m, "3782 822463 10005", TEXT, false).as_deref(),
        Some("**** **** **** 0005")
    );
    // Too few digits to be a card: showing four of them would show too much.
    for short in ["12345678901", "555-123-4567", "none"] {
        assert_eq!(
            masked(&m, short, TEXT, false).as_deref(),
            Some(DEFAULT_REDACT_TEXT),
            "{short}"
        );
    }
}

#[test]
fn hash_is_keyed_stable_and_lowercase_hex() {
    let m = Mask::Hash;
    let a = masked(&m, "ann@example.com", TEXT, false).unwrap();
    assert_eq!(a.len(), 32);
    assert!(a
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(masked(&m, "ann@example.com", VARCHAR, true).unwrap(), a);
    assert_ne!(masked(&m, "bob@example.com", TEXT, false).unwrap(), a);

    // The HMAC itself: a different key gives a different hash, and the
    // output is the MAC's leading bytes (checked against a fresh HMAC).
    let other = HashKey::from_bytes(&[7u8; 32]).unwrap();
    let mut out = Vec::new();
    other.write_hex(b"ann@example.com", &mut out);
    assert_ne!(String::from_utf8(out).unwrap(), a);
    let mut reference =
        Hmac::<Sha256>::new_from_slice(b"0123456789abcdef0123456789abcdef").unwrap();
    reference.update(b"ann@example.com");
    let tag = reference.finalize().into_bytes();
    let hex: String = tag[..16].iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(a, hex);
}

#[test]
fn hash_without_a_key_fails_closed() {
    let mut out = Vec::new();
    assert!(!Mask::Hash.apply(b"x", TEXT, false, None, &mut out));
    assert!(out.is_empty());
}

#[test]
fn names_round_trip() {
    for name in Mask::NAMES {
        assert_eq!(Mask::from_name(name, None).unwrap().name(), name);
    }
    assert_eq!(Mask::from_name("partial", None), None);
    assert!(Mask::Hash.needs_key());
    assert!(!Mask::PartialEmail.needs_key());
}

#[test]
fn short_keys_are_refused() {
    let e = HashKey::from_bytes(&[1u8; 31]).unwrap_err();
    assert!(e.contains("31 bytes") && e.contains("at least 32"), "{e}");
    assert!(format!("{:?}", key()).contains("secret"));
}

#[test]
fn key_files_must_be_private_and_long_enough() {
    let dir = std::env::temp_dir().join(format!("cordon-mask-key-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mask.key");
    std::fs::write(&file, [9u8; 32]).unwrap();

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = HashKey::load(&file).unwrap_err();
    assert!(e.contains("mode 640") && e.contains("chmod 600"), "{e}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let loaded = HashKey::load(&file).unwrap();
    let mut a = Vec::new();
    loaded.write_hex(b"v", &mut a);
    let mut b = Vec::new();
    HashKey::from_bytes(&[9u8; 32])
        .unwrap()
        .write_hex(b"v", &mut b);
    assert_eq!(a, b, "the file's bytes are the key");

    std::fs::write(&file, b"short\n").unwrap();
    let e = HashKey::load(&file).unwrap_err();
    assert!(e.contains("6 bytes"), "{e}");

    let e = HashKey::load(&dir.join("missing")).unwrap_err();
    assert!(e.contains("cannot read"), "{e}");
    let e = HashKey::load(&dir).unwrap_err();
    assert!(e.contains("not a regular file"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
