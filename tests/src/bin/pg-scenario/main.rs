//! The tokio-postgres scenario of the protocol suite (tests/tests/protocol_scenarios.rs),
//! run inside a cgroup like pg-probe, once through the gateway and once directly.
//!
//! ```text
//! pg-scenario CONNINFO
//! ```
//!
//! Prints one line per observable result (rows, SQLSTATEs, notifications, counts) and
//! nothing that differs between the two routes: no role, database, pid or time.
//! Exits 0 when the scenario ran to the end, whatever SQLSTATEs it printed on the way.

mod numeric;

use std::{
    pin::pin,
    process::ExitCode,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use tokio::sync::mpsc;
use tokio_postgres::{
    binary_copy::{BinaryCopyInWriter, BinaryCopyOutStream},
    types::{ToSql, Type},
    AsyncMessage, Client, Config, NoTls, SimpleQueryMessage,
};

use numeric::Numeric;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
type Events = mpsc::UnboundedReceiver<AsyncMessage>;

fn main() -> ExitCode {
    let Some(conninfo) = std::env::args().nth(1) else {
        eprintln!("usage: pg-scenario CONNINFO");
        return ExitCode::from(64);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(scenario(&conninfo)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pg-scenario: {e:?}");
            ExitCode::from(3)
        }
    }
}

/// Connects, with a task driving the connection that forwards notices and
/// notifications to the returned channel.
async fn connect(conninfo: &str) -> Result<(Client, Events)> {
    let config: Config = conninfo.parse()?;
    let (client, mut connection) = config.connect(NoTls).await?;
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(message) => {
                    let _ = tx.send(message);
                }
                Err(e) => {
                    eprintln!("pg-scenario: connection: {e}");
                    break;
                }
            }
        }
    });
    Ok((client, rx))
}

/// The SQLSTATE of an error (`none` for a client-side error).
fn sqlstate(e: &tokio_postgres::Error) -> String {
    e.code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| format!("none ({e})"))
}

/// Prints `label sqlstate=...` for an error, or `label ok` (a statement expected to fail
/// that succeeds shows up as a difference from the expected output).
fn outcome<T>(label: &str, result: std::result::Result<T, tokio_postgres::Error>) {
    match result {
        Ok(_) => println!("{label} ok"),
        Err(e) => println!("{label} sqlstate={}", sqlstate(&e)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn scenario(conninfo: &str) -> Result<()> {
    let (mut client, mut events) = connect(conninfo).await?;
    ddl_and_dml(&client).await?;
    parameters(&client).await?;
    errors(&client).await?;
    transactions(&mut client).await?;
    pipeline(&client).await?;
    copy(&client).await?;
    big_result(&client).await?;
    notices_and_notifications(&client, &mut events, conninfo).await?;
    cancel(&client).await?;
    Ok(())
}

async fn ddl_and_dml(client: &Client) -> Result<()> {
    client
        .batch_execute(
            "CREATE TABLE kv (id int PRIMARY KEY, v text NOT NULL); \
             CREATE INDEX kv_v ON kv (v); \
             ALTER TABLE kv ADD COLUMN n numeric; \
             CREATE TABLE scratch (x int); \
             DROP TABLE scratch",
        )
        .await?;
    println!("ddl ok");
    let insert = client
        .prepare("INSERT INTO kv (id, v, n) VALUES ($1, $2, $3) RETURNING id, v, n")
        .await?;
    println!("insert params={:?}", insert.params());
    for (id, v, n) in [
        (1, "one", "1.10"),
        (2, "two", "-2.5"),
        (3, "three", "30000.0003"),
    ] {
        let row = client
            .query_one(&insert, &[&id, &v, &Numeric(n.into())])
            .await?;
        let n: Numeric = row.get(2);
        println!(
            "inserted id={} v={} n={}",
            row.get::<_, i32>(0),
            row.get::<_, &str>(1),
            n.0
        );
    }
    let updated = client
        .execute("UPDATE kv SET v = upper(v) WHERE id >= $1", &[&2i32])
        .await?;
    println!("update rows={updated}");
    let deleted = client
        .query("DELETE FROM kv WHERE id = $1 RETURNING v", &[&3i32])
        .await?;
    println!("delete returning v={}", deleted[0].get::<_, &str>(0));
    Ok(())
}

/// Parameters and results of several types in binary (the extended protocol), then
/// the same values as text (the simple protocol).
async fn parameters(client: &Client) -> Result<()> {
    let ts = UNIX_EPOCH + Duration::from_micros(1_709_210_096_789_000);
    let ints: Vec<Option<i32>> = vec![Some(1), None, Some(-3)];
    let texts = vec!["a".to_string(), "b c".to_string(), "".to_string()];
    let row = client
        .query_one(
            "SELECT $1::int4, $2::int8, $3::text, $4::numeric, $5::timestamptz, $6::bytea, \
                    $7::bool, $8::int4[], $9::text[], $10::int4, $11::float8",
            &[
                &-42i32,
                &9_007_199_254_740_993i64,
                &"héllo 'quoted'",
                &Numeric("-12345.6780".into()),
                &ts,
                &vec![0u8, 1, 254, 255],
                &true,
                &ints,
                &texts,
                &None::<i32>,
                &0.1f64,
            ],
        )
        .await?;
    let since_epoch = row.get::<_, SystemTime>(4).duration_since(UNIX_EPOCH)?;
    println!(
        "binary int4={} int8={} text={} numeric={} timestamptz_us={} bytea={} bool={} \
         int4[]={:?} text[]={:?} null={:?} float8={}",
        row.get::<_, i32>(0),
        row.get::<_, i64>(1),
        row.get::<_, &str>(2),
        row.get::<_, Numeric>(3).0,
        since_epoch.as_micros(),
        hex(row.get::<_, &[u8]>(5)),
        row.get::<_, bool>(6),
        row.get::<_, Vec<Option<i32>>>(7),
        row.get::<_, Vec<String>>(8),
        row.get::<_, Option<i32>>(9),
        row.get::<_, f64>(10),
    );
    let typed = client
        .query_typed_one(
            "SELECT $1 || '!', $2 + 1",
            &[(&"typed", Type::TEXT), (&41i64, Type::INT8)],
        )
        .await?;
    println!(
        "typed text={} int8={}",
        typed.get::<_, &str>(0),
        typed.get::<_, i64>(1)
    );
    let messages = client
        .simple_query(
            "SELECT -42::int4, 9007199254740993::int8, 'héllo ''quoted''', -12345.6780::numeric, \
                    '2024-02-29 12:34:56.789+00'::timestamptz AT TIME ZONE 'UTC', \
                    '\\x0001feff'::bytea, true, ARRAY[1, NULL, -3], ARRAY['a', 'b c', ''], \
                    NULL::int4, 0.1::float8",
        )
        .await?;
    for message in messages {
        if let SimpleQueryMessage::Row(row) = message {
            let cols: Vec<&str> = (0..row.len())
                .map(|i| row.get(i).unwrap_or("NULL"))
                .collect();
            println!("text {}", cols.join("|"));
        }
    }
    Ok(())
}

async fn errors(client: &Client) -> Result<()> {
    outcome(
        "unique violation",
        client
            .execute("INSERT INTO kv (id, v) VALUES (1, 'again')", &[])
            .await,
    );
    outcome(
        "division by zero",
        client.query("SELECT 1 / $1::int", &[&0i32]).await,
    );
    outcome(
        "undefined table",
        client.prepare("SELECT * FROM no_such_table").await,
    );
    outcome(
        "undefined function",
        client.simple_query("SELECT no_such_function(1)").await,
    );
    outcome(
        "invalid text",
        client
            .query("SELECT $1::text::int", &[&"not a number"])
            .await,
    );
    outcome(
        "not null",
        client.execute("INSERT INTO kv (id) VALUES (9)", &[]).await,
    );
    let count: i64 = client
        .query_one("SELECT count(*) FROM kv", &[])
        .await?
        .get(0);
    println!("rows after errors={count}");
    Ok(())
}

async fn transactions(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO kv (id, v) VALUES (10, 'in aborted transaction')",
        &[],
    )
    .await?;
    outcome(
        "in transaction: unique violation",
        tx.execute("INSERT INTO kv (id, v) VALUES (1, 'again')", &[])
            .await,
    );
    outcome(
        "in transaction: next statement",
        tx.query("SELECT 1", &[]).await,
    );
    tx.rollback().await?;
    let rows: i64 = client
        .query_one("SELECT count(*) FROM kv WHERE id = 10", &[])
        .await?
        .get(0);
    println!("after rollback rows={rows}");

    let mut tx = client.transaction().await?;
    tx.execute("INSERT INTO kv (id, v) VALUES (20, 'kept')", &[])
        .await?;
    {
        let savepoint = tx.savepoint("s1").await?;
        savepoint
            .execute("INSERT INTO kv (id, v) VALUES (21, 'rolled back')", &[])
            .await?;
        outcome(
            "in savepoint: unique violation",
            savepoint
                .execute("INSERT INTO kv (id, v) VALUES (1, 'again')", &[])
                .await,
        );
        savepoint.rollback().await?;
    }
    tx.execute(
        "INSERT INTO kv (id, v) VALUES (22, 'kept after savepoint')",
        &[],
    )
    .await?;
    // A portal read in batches (Execute with a row limit, PortalSuspended between).
    let portal = tx
        .bind("SELECT g FROM generate_series(1, 10) g", &[])
        .await?;
    let mut batches = Vec::new();
    loop {
        let rows = tx.query_portal(&portal, 4).await?;
        batches.push(rows.len());
        if rows.is_empty() {
            break;
        }
    }
    println!("portal batches={batches:?}");
    tx.commit().await?;
    let ids: Vec<i32> = client
        .query("SELECT id FROM kv WHERE id >= 20 ORDER BY id", &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    println!("after savepoint ids={ids:?}");
    Ok(())
}

/// Queries sent before the earlier ones' results arrive (tokio-postgres pipelines
/// concurrent queries on one connection), one of them failing in the middle.
async fn pipeline(client: &Client) -> Result<()> {
    let square = client.prepare("SELECT $1::int8 * $1::int8").await?;
    let (a, b, c, d) = tokio::join!(
        client.query_one(&square, &[&3i64]),
        client.query_one("SELECT 1 / $1::int", &[&0i32]),
        client.query_one(&square, &[&3_000_000_000i64]),
        client.simple_query("SELECT 'simple in the pipeline'"),
    );
    println!("pipeline a={}", a?.get::<_, i64>(0));
    outcome("pipeline b", b);
    println!("pipeline c={}", c?.get::<_, i64>(0));
    let d = d?;
    if let Some(SimpleQueryMessage::Row(row)) = d.first() {
        println!("pipeline d={}", row.get(0).unwrap_or("NULL"));
    }
    Ok(())
}

async fn copy(client: &Client) -> Result<()> {
    let sink = client
        .copy_in::<_, Bytes>("COPY kv (id, v, n) FROM STDIN")
        .await?;
    let mut sink = pin!(sink);
    sink.send(Bytes::from_static(
        b"100\tcopied\t1.5\n101\ttab\\there\t\\N\n",
    ))
    .await?;
    sink.send(Bytes::from_static(b"102\tsplit across ")).await?;
    sink.send(Bytes::from_static(b"messages\t-0.25\n")).await?;
    println!("copy_in text rows={}", sink.as_mut().finish().await?);

    let sink = client
        .copy_in::<_, Bytes>("COPY kv (id, v, n) FROM STDIN (FORMAT binary)")
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(
        sink,
        &[Type::INT4, Type::TEXT, Type::NUMERIC]
    ));
    for id in 200..210i32 {
        let n = Numeric(format!("{id}.{id}"));
        writer
            .as_mut()
            .write(&[&id, &format!("binary {id}"), &n])
            .await?;
    }
    println!("copy_in binary rows={}", writer.as_mut().finish().await?);

    let sink = client
        .copy_in::<_, Bytes>("COPY kv (id, v) FROM STDIN")
        .await?;
    let mut sink = pin!(sink);
    sink.send(Bytes::from_static(b"300\tfine\n1\tduplicate\n"))
        .await?;
    outcome("copy_in duplicate", sink.as_mut().finish().await);

    let stream = client
        .copy_out("COPY (SELECT id, v, n FROM kv ORDER BY id) TO STDOUT")
        .await?;
    let mut stream = pin!(stream);
    let mut text = Vec::new();
    while let Some(chunk) = stream.next().await {
        text.extend_from_slice(&chunk?);
    }
    for line in String::from_utf8(text)?.lines() {
        println!("copy_out {line}");
    }

    let stream = client
        .copy_out("COPY (SELECT id, v, n FROM kv WHERE id >= 200 ORDER BY id LIMIT 3) TO STDOUT (FORMAT binary)")
        .await?;
    let rows = BinaryCopyOutStream::new(stream, &[Type::INT4, Type::TEXT, Type::NUMERIC]);
    let mut rows = pin!(rows);
    while let Some(row) = rows.next().await {
        let row = row?;
        println!(
            "copy_out binary id={} v={} n={}",
            row.get::<i32>(0),
            row.get::<&str>(1),
            row.get::<Numeric>(2).0
        );
    }
    Ok(())
}

const BIG: &str = "SELECT g, md5(g::text) FROM generate_series(1, 1000000) g";

/// A million rows, streamed (never all in memory): as rows, then as COPY OUT.
async fn big_result(client: &Client) -> Result<()> {
    let rows = client
        .query_raw(BIG, std::iter::empty::<&(dyn ToSql + Sync)>())
        .await?;
    let mut rows = pin!(rows);
    let (mut count, mut sum, mut hash) = (0u64, 0i64, Md5::new());
    while let Some(row) = rows.next().await {
        let row = row?;
        let g: i32 = row.get(0);
        count += 1;
        sum += i64::from(g);
        hash.update(format!("{g}\t{}\n", row.get::<_, &str>(1)).as_bytes());
    }
    println!(
        "big_result rows={count} sum={sum} md5={}",
        hex(&hash.finalize())
    );

    let stream = client.copy_out(&format!("COPY ({BIG}) TO STDOUT")).await?;
    let mut stream = pin!(stream);
    let (mut bytes, mut hash) = (0usize, Md5::new());
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        hash.update(&chunk);
    }
    println!("big_copy_out bytes={bytes} md5={}", hex(&hash.finalize()));
    Ok(())
}

/// Waits up to a few seconds for the next notification or notice.
async fn next_event(events: &mut Events) -> Option<AsyncMessage> {
    tokio::time::timeout(Duration::from_secs(5), events.recv())
        .await
        .ok()
        .flatten()
}

fn describe(event: Option<AsyncMessage>) -> String {
    match event {
        Some(AsyncMessage::Notification(n)) => {
            format!(
                "notification channel={} payload={}",
                n.channel(),
                n.payload()
            )
        }
        Some(AsyncMessage::Notice(notice)) => {
            format!(
                "notice severity={} message={}",
                notice.severity(),
                notice.message()
            )
        }
        Some(_) => "other async message".into(),
        None => "no event".into(),
    }
}

async fn notices_and_notifications(
    client: &Client,
    events: &mut Events,
    conninfo: &str,
) -> Result<()> {
    client
        .batch_execute("DO $$ BEGIN RAISE NOTICE 'notice with value %', 42; END $$")
        .await?;
    println!("{}", describe(next_event(events).await));

    let (listener, mut heard) = connect(conninfo).await?;
    listener.batch_execute("LISTEN scn_channel").await?;
    client.batch_execute("NOTIFY scn_channel, 'plain'").await?;
    client
        .query(
            "SELECT pg_notify('scn_channel', $1)",
            &[&"from pg_notify ünïcode"],
        )
        .await?;
    client
        .batch_execute("BEGIN; NOTIFY scn_channel, 'rolled back'; ROLLBACK")
        .await?;
    client
        .batch_execute("BEGIN; NOTIFY scn_channel, 'committed'; COMMIT")
        .await?;
    for _ in 0..3 {
        println!("listener {}", describe(next_event(&mut heard).await));
    }
    // A notification for the session's own channel, while it is idle: delivered
    // between queries, without a request.
    client.batch_execute("LISTEN own_channel").await?;
    listener
        .batch_execute("NOTIFY own_channel, 'to the idle client'")
        .await?;
    println!("own {}", describe(next_event(events).await));
    listener.batch_execute("UNLISTEN *").await?;
    client
        .batch_execute("NOTIFY scn_channel, 'nobody listens'")
        .await?;
    listener.batch_execute("SELECT 1").await?;
    println!(
        "after unlisten pending={}",
        heard
            .try_recv()
            .map(|e| describe(Some(e)))
            .unwrap_or_else(|_| "none".into())
    );
    Ok(())
}

/// `pg_sleep(30)` cancelled after 300 ms through the library's cancel token.
async fn cancel(client: &Client) -> Result<()> {
    let token = client.cancel_token();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        token.cancel_query(NoTls).await
    });
    let started = Instant::now();
    let result = client.simple_query("SELECT pg_sleep(30)").await;
    let quick = started.elapsed() < Duration::from_secs(10);
    outcome("cancel", result);
    println!("cancel quick={quick}");
    if let Err(e) = canceller.await? {
        println!("cancel request error={e}");
    }
    // tokio-postgres does not wait for the server to close the cancel connection, and
    // through the gateway nobody does (protocol_scenarios.rs,
    // a_cancel_connection_closes_only_after_the_server_took_the_request): a pause keeps
    // a late cancel off the next command.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after: i32 = client.query_one("SELECT 7", &[]).await?.get(0);
    println!("after cancel select={after}");
    Ok(())
}
