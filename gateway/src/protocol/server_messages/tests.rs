use super::*;

fn row_description_body() -> Vec<u8> {
    let mut b = vec![0, 2];
    for (name, table, col, ty) in [("id", 16384u32, 1i16, 23u32), ("email", 16384, 2, 25)] {
        b.extend_from_slice(name.as_bytes());
        b.push(0);
        b.extend_from_slice(&table.to_be_bytes());
        b.extend_from_slice(&col.to_be_bytes());
        b.extend_from_slice(&ty.to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0i16.to_be_bytes());
    }
    b
}

#[test]
fn row_description_names_origin_and_type() {
    let fields = decode_row_description(&row_description_body()).unwrap();
    assert_eq!(fields.len(), 2);
    assert_eq!(fields[1].name, "email");
    assert_eq!(
        (fields[1].table_oid, fields[1].column, fields[1].type_oid),
        (16384, 2, 25)
    );
    let mut short = row_description_body();
    short.pop();
    assert!(decode_row_description(&short).is_err());
}

#[test]
fn data_rows_round_trip() {
    let mut buf = BytesMut::new();
    encode_data_row(
        &mut buf,
        [Some(&b"1"[..]), None, Some(&b""[..])].into_iter(),
    );
    let cells = decode_data_row(&buf[5..]).unwrap();
    assert_eq!(cells, vec![Some(&b"1"[..]), None, Some(&b""[..])]);
    assert!(decode_data_row(b"\0\x01\xff\xff\xff\xfe").is_err());
    assert!(decode_data_row(b"\0\x01\0\0\0\x09ab").is_err());
}

#[test]
fn error_fields_prefer_the_untranslated_severity() {
    let body = b"SFEHLER\0VERROR\0C42P01\0Mrelation \"x\" does not exist\0\0";
    let e = decode_error_fields(body).unwrap();
    assert_eq!(e.severity, "ERROR");
    assert_eq!(e.sqlstate, "42P01");
    assert!(!e.ends_session());
    let fatal = decode_error_fields(b"SFATAL\0C57P01\0Mbye\0\0").unwrap();
    assert!(fatal.ends_session());
}

#[test]
fn error_fields_keep_what_psql_prints() {
    let body = b"SERROR\0C23505\0Mduplicate key\0DKey (id)=(1) already exists.\0\
                 HUse another id.\0P15\0Wa function\0\0";
    let e = decode_error_fields(body).unwrap();
    assert_eq!(e.position, Some(15));
    assert_eq!(e.detail.as_deref(), Some("Key (id)=(1) already exists."));
    assert_eq!(e.hint.as_deref(), Some("Use another id."));
    assert_eq!(e.context.as_deref(), Some("a function"));
    let bare = decode_error_fields(b"SERROR\0C22012\0Mdivision by zero\0Pnot a number\0\0");
    assert_eq!(
        bare.unwrap().position,
        None,
        "an unreadable position is left out"
    );
}

#[test]
fn ready_for_query_status_is_checked() {
    assert_eq!(decode_ready_for_query(b"T").unwrap(), b'T');
    assert!(decode_ready_for_query(b"Q").is_err());
    assert!(decode_ready_for_query(b"").is_err());
}
