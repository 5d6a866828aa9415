use super::*;

fn packet(code: u32, rest: &[u8]) -> Vec<u8> {
    let mut body = code.to_be_bytes().to_vec();
    body.extend_from_slice(rest);
    body
}

#[test]
fn ssl_and_gssenc_requests() {
    assert_eq!(
        parse(&packet(80_877_103, b"")),
        Ok(StartupPacket::SslRequest)
    );
    assert_eq!(
        parse(&packet(80_877_104, b"")),
        Ok(StartupPacket::GssEncRequest)
    );
    assert!(parse(&packet(80_877_103, b"x")).is_err());
}

#[test]
fn cancel_request_with_short_and_long_keys() {
    let mut rest = 42i32.to_be_bytes().to_vec();
    rest.extend_from_slice(&7i32.to_be_bytes());
    assert_eq!(
        parse(&packet(80_877_102, &rest)),
        Ok(StartupPacket::Cancel {
            process_id: 42,
            secret_key: 7i32.to_be_bytes().to_vec()
        })
    );
    assert!(parse(&packet(80_877_102, &[0, 0, 0, 1, 9])).is_err());
}

#[test]
fn startup_message_parameters() {
    let body = packet(0x0003_0000, b"user\0agent\0database\0app\0\0");
    let StartupPacket::Startup {
        version,
        parameters,
    } = parse(&body).unwrap()
    else {
        panic!("not a startup message")
    };
    assert_eq!(version, ProtocolVersion { major: 3, minor: 0 });
    assert_eq!(
        parameters,
        vec![
            ("user".into(), "agent".into()),
            ("database".into(), "app".into())
        ]
    );
}

#[test]
fn protocol_3_2_is_recognised() {
    let body = packet(0x0003_0002, b"user\0a\0\0");
    assert!(matches!(
        parse(&body),
        Ok(StartupPacket::Startup {
            version: ProtocolVersion { major: 3, minor: 2 },
            ..
        })
    ));
}

#[test]
fn rejects_bad_packets() {
    assert_eq!(
        parse(&packet(0x0002_0000, b"\0")),
        Err(StartupError::Version(2, 0))
    );
    assert!(
        parse(&packet(0x0003_0000, b"user\0a")).is_err(),
        "unterminated"
    );
    assert!(
        parse(&packet(0x0003_0000, b"user\0a\0")).is_err(),
        "no final NUL"
    );
    assert!(parse(&packet(0x0003_0000, b"user\0a\0\0junk")).is_err());
    assert!(parse(&packet(0x0003_0000, b"user\0a\0user\0b\0\0")).is_err());
    assert!(parse(&packet(0x0003_0000, b"u\xff\0a\0\0")).is_err());
    assert!(parse(&[0, 3]).is_err());
}

#[test]
fn length_prefix_is_bounded() {
    assert_eq!(body_len(8u32.to_be_bytes()), Ok(4));
    assert_eq!(body_len(7u32.to_be_bytes()), Err(StartupError::Length(7)));
    assert_eq!(
        body_len(0x7fff_ffffu32.to_be_bytes()),
        Err(StartupError::Length(0x7fff_ffff))
    );
    assert!(body_len((MAX_STARTUP_LEN as u32).to_be_bytes()).is_ok());
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep of short inputs and mutations.
    let seed = packet(0x0003_0000, b"user\0agent\0database\0app\0\0");
    for i in 0..seed.len() {
        for v in [0u8, 1, 0x7f, 0xff] {
            let mut m = seed.clone();
            m[i] = v;
            let _ = parse(&m);
            let _ = parse(&m[..i]);
        }
    }
}
