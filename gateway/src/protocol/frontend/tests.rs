use bytes::BytesMut;
use postgres_protocol::message::frontend as pp;

use super::*;

/// Body of the single message in `buf` (after the 5-byte header).
fn body(buf: &BytesMut) -> &[u8] {
    &buf[5..]
}

#[test]
fn parse_bind_execute_written_by_postgres_protocol_decode() {
    let mut buf = BytesMut::new();
    pp::parse("s1", "SELECT $1::int", [23u32], &mut buf).unwrap();
    assert_eq!(
        decode_parse(body(&buf)).unwrap(),
        Parse {
            name: "s1",
            query: "SELECT $1::int",
            param_types: vec![23]
        }
    );

    let mut buf = BytesMut::new();
    pp::bind(
        "p1",
        "s1",
        [1i16],
        [Some(&b"\0\0\0\x07"[..]), None],
        |v: Option<&[u8]>, out: &mut BytesMut| match v {
            Some(v) => {
                out.extend_from_slice(v);
                Ok(postgres_protocol::IsNull::No)
            }
            None => Ok(postgres_protocol::IsNull::Yes),
        },
        [1i16, 0],
        &mut buf,
    )
    .map_err(|_| "bind")
    .unwrap();
    let bind = decode_bind(body(&buf)).unwrap();
    assert_eq!((bind.portal, bind.statement), ("p1", "s1"));
    assert_eq!(bind.result_formats, [1, 0]);
    // One format code for both: binary.
    assert_eq!(
        bind.parameters.iter().collect::<Vec<_>>(),
        [(true, Some(&b"\0\0\0\x07"[..])), (true, None)]
    );

    let mut buf = BytesMut::new();
    pp::execute("p1", 10, &mut buf).unwrap();
    assert_eq!(
        decode_execute(body(&buf)).unwrap(),
        Execute {
            portal: "p1",
            max_rows: 10
        }
    );
}

#[test]
fn describe_and_close_name_their_target() {
    let mut buf = BytesMut::new();
    pp::describe(b'S', "s1", &mut buf).unwrap();
    assert_eq!(
        decode_describe(body(&buf)).unwrap(),
        Describe {
            target: Target::Statement,
            name: "s1"
        }
    );
    assert!(decode_close(b"X\0").is_err());
    assert_eq!(decode_close(b"P\0").unwrap().target, Target::Portal);
}

#[test]
fn gateway_written_messages_decode_again() {
    let mut buf = BytesMut::new();
    encode_query(&mut buf, "SELECT 1");
    assert_eq!(decode_query(body(&buf)).unwrap(), "SELECT 1");
    let mut buf = BytesMut::new();
    encode_parse(&mut buf, "n", "x");
    assert_eq!(decode_parse(body(&buf)).unwrap().query, "x");
    let mut buf = BytesMut::new();
    encode_describe_portal(&mut buf, "");
    assert_eq!(decode_describe(body(&buf)).unwrap().target, Target::Portal);
    let mut buf = BytesMut::new();
    encode_terminate(&mut buf);
    assert_eq!(&buf[..], b"X\0\0\0\x04");
}

#[test]
fn forged_counts_and_lengths_are_refused() {
    // Bind claiming 32767 format codes in a short body.
    assert!(decode_bind(b"\0\0\x7f\xff").is_err());
    // A parameter length past the end.
    assert!(decode_bind(b"\0\0\0\0\0\x01\0\0\x10\0").is_err());
    // A negative parameter length other than -1 (NULL).
    assert!(decode_bind(b"\0\0\0\0\0\x01\xff\xff\xff\xfe\0\0").is_err());
    assert!(decode_query(b"no terminator").is_err());
    assert!(decode_query(b"a\0b").is_err(), "trailing bytes");
    assert!(decode_query(b"\xff\0").is_err(), "not UTF-8");
}

#[test]
fn bind_parameters_come_with_their_own_formats() {
    let encode =
        |formats: &[i16], values: &[Option<&[u8]>]| bind_message_for_test("", formats, values);
    let values: [Option<&[u8]>; 3] = [Some(b"42"), None, Some(b"\x01\x02")];
    let one_each = encode(&[0, 0, 1], &values);
    let bind = decode_bind(body(&one_each)).unwrap();
    assert_eq!(bind.parameters.len(), 3);
    assert_eq!(
        bind.parameters.iter().collect::<Vec<_>>(),
        [
            (false, Some(&b"42"[..])),
            (false, None),
            (true, Some(&b"\x01\x02"[..]))
        ]
    );
    // No format codes: all text.
    let all_text = encode(&[], &values);
    let bind = decode_bind(body(&all_text)).unwrap();
    assert!(bind.parameters.iter().all(|(binary, _)| !binary));
    let none = encode(&[], &[]);
    assert!(decode_bind(body(&none)).unwrap().parameters.is_empty());
}

#[test]
fn a_function_call_decodes_with_its_arguments_and_result_format() {
    // loread(fd 0, 8192), as libpq sends it: binary arguments, binary result.
    let mut body = 954u32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0, 1, 0, 1]); // one format code for all: binary
    body.extend_from_slice(&[0, 2]); // two arguments
    body.extend_from_slice(&4i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&4i32.to_be_bytes());
    body.extend_from_slice(&8192i32.to_be_bytes());
    body.extend_from_slice(&[0, 1]); // result format: binary
    let call = decode_function_call(&body).unwrap();
    assert_eq!((call.oid, call.result_binary), (954, true));
    assert_eq!(
        call.arguments.iter().collect::<Vec<_>>(),
        [
            (true, Some(&[0, 0, 0, 0][..])),
            (true, Some(&[0, 0, 0x20, 0][..]))
        ]
    );
    // Cut short, or with bytes left over, it is malformed.
    assert!(decode_function_call(&body[..body.len() - 1]).is_err());
    body.push(0);
    assert!(decode_function_call(&body).is_err());
}
