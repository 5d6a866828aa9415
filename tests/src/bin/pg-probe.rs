//! A small PostgreSQL client for the end-to-end tests, run inside a cgroup.
//!
//! ```text
//! pg-probe [--no-password] HOST PORT USER PASSWORD DBNAME SQL...
//!     runs each SQL (simple query) with tokio-postgres; prints each row's columns
//!     tab-separated; on error prints `ERROR sqlstate=CODE` and `message=TEXT`, exit 2
//! pg-probe --cancel-after-ms N HOST PORT USER PASSWORD DBNAME SQL
//!     runs SQL, cancels it through the cancel protocol after N ms; prints
//!     `elapsed_ms=.. after_cancel_ms=.. sqlstate=..`; exit 1 if the query was not cancelled
//! pg-probe --stream rows|copy HOST PORT USER PASSWORD DBNAME SQL
//!     streams a large result and throws it away as it arrives (the client never
//!     holds it): `rows` through the extended protocol (query_raw: DataRow
//!     messages; every column must be text), `copy` through COPY ... TO STDOUT
//!     (CopyData); prints `messages=N bytes=N elapsed_ms=..` (DataRow or
//!     CopyData messages; bytes: the column values, or the COPY data)
//! pg-probe --peername HOST PORT
//!     connects with std's TcpStream; prints `peer=ADDR local=ADDR` (getpeername/getsockname)
//! pg-probe --raw-hex HEX [--read-timeout-ms N] HOST PORT
//!     connects, writes the bytes, reads until EOF, reset or timeout (default 10000 ms);
//!     prints `received=HEX` and `end=eof|reset|timeout|error elapsed_ms=..`
//! ```

use std::{
    io::{Read, Write},
    net::{IpAddr, TcpStream, ToSocketAddrs},
    process::ExitCode,
    time::{Duration, Instant},
};

use futures_util::TryStreamExt;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--peername") => peername(&args[1..]),
        Some("--raw-hex") => raw(&args),
        Some("--cancel-after-ms") => {
            let ms = args
                .get(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage());
            runtime().block_on(cancel(ms, &args[2..]))
        }
        Some("--stream") => runtime().block_on(stream(&args[1..])),
        Some("--no-password") => runtime().block_on(query(&args[1..], false)),
        Some(_) => runtime().block_on(query(&args, true)),
        None => usage(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pg-probe: {e}");
            ExitCode::from(3)
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: see the module documentation of tests/src/bin/pg-probe.rs");
    std::process::exit(64)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn config(args: &[String], with_password: bool) -> Config {
    let [host, port, user, password, dbname, ..] = args else {
        usage()
    };
    let mut config = Config::new();
    config
        .host(host)
        .port(port.parse().unwrap_or_else(|_| usage()))
        .user(user)
        .dbname(dbname)
        .application_name("pg-probe")
        .connect_timeout(Duration::from_secs(10));
    if let Ok(ip) = host.parse::<IpAddr>() {
        config.hostaddr(ip);
    }
    if with_password {
        config.password(password);
    }
    config
}

async fn connect(config: &Config) -> std::result::Result<Client, tokio_postgres::Error> {
    let (client, connection) = config.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("pg-probe: connection: {e}");
        }
    });
    Ok(client)
}

fn report_error(e: &tokio_postgres::Error) -> ExitCode {
    let code = e
        .code()
        .map(|c| c.code().to_string())
        .unwrap_or_else(|| "none".into());
    let message = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    println!("ERROR sqlstate={code}");
    println!("message={message}");
    ExitCode::from(2)
}

async fn query(args: &[String], with_password: bool) -> Result<ExitCode> {
    if args.len() < 6 {
        usage();
    }
    let client = match connect(&config(args, with_password)).await {
        Ok(c) => c,
        Err(e) => return Ok(report_error(&e)),
    };
    for sql in &args[5..] {
        match client.simple_query(sql).await {
            Ok(messages) => {
                for message in messages {
                    if let SimpleQueryMessage::Row(row) = message {
                        let cols: Vec<&str> =
                            (0..row.len()).map(|i| row.get(i).unwrap_or("")).collect();
                        println!("{}", cols.join("\t"));
                    }
                }
            }
            Err(e) => return Ok(report_error(&e)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn cancel(after_ms: u64, args: &[String]) -> Result<ExitCode> {
    let [.., sql] = args else { usage() };
    let client = match connect(&config(args, true)).await {
        Ok(c) => c,
        Err(e) => return Ok(report_error(&e)),
    };
    let token = client.cancel_token();
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        let sent = Instant::now();
        let result = token.cancel_query(NoTls).await;
        (sent, result)
    });
    let outcome = client.simple_query(sql).await;
    let ended = Instant::now();
    let (sent, cancel_result) = canceller.await?;
    if let Err(e) = cancel_result {
        println!("cancel_error={e}");
    }
    let after_cancel = ended.saturating_duration_since(sent);
    let code = match &outcome {
        Ok(_) => "none".to_string(),
        Err(e) => e
            .code()
            .map(|c| c.code().to_string())
            .unwrap_or_else(|| "none".into()),
    };
    println!(
        "elapsed_ms={} after_cancel_ms={} sqlstate={code}",
        (ended - started).as_millis(),
        after_cancel.as_millis()
    );
    if let Err(e) = &outcome {
        println!("message={e}");
    }
    Ok(if outcome.is_err() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn stream(args: &[String]) -> Result<ExitCode> {
    let [how, rest @ ..] = args else { usage() };
    let [.., sql] = rest else { usage() };
    if rest.len() != 6 {
        usage();
    }
    let client = match connect(&config(rest, true)).await {
        Ok(c) => c,
        Err(e) => return Ok(report_error(&e)),
    };
    let started = Instant::now();
    let (mut messages, mut bytes) = (0u64, 0u64);
    let outcome = match how.as_str() {
        "rows" => {
            async {
                let stream = client
                    .query_raw(sql.as_str(), std::iter::empty::<&str>())
                    .await?;
                let mut stream = std::pin::pin!(stream);
                while let Some(row) = stream.try_next().await? {
                    messages += 1;
                    for i in 0..row.len() {
                        bytes += row.get::<_, Option<&str>>(i).map_or(0, str::len) as u64;
                    }
                }
                Ok(())
            }
            .await
        }
        "copy" => {
            async {
                let stream = client.copy_out(sql.as_str()).await?;
                let mut stream = std::pin::pin!(stream);
                while let Some(chunk) = stream.try_next().await? {
                    messages += 1;
                    bytes += chunk.len() as u64;
                }
                Ok(())
            }
            .await
        }
        _ => usage(),
    };
    if let Err(e) = outcome {
        return Ok(report_error(&e));
    }
    println!(
        "messages={messages} bytes={bytes} elapsed_ms={}",
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

fn peername(args: &[String]) -> Result<ExitCode> {
    let [host, port] = args else { usage() };
    let addr = (host.as_str(), port.parse::<u16>()?)
        .to_socket_addrs()?
        .next()
        .ok_or("no address")?;
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    println!(
        "peer={} local={}",
        stream.peer_addr()?,
        stream.local_addr()?
    );
    Ok(ExitCode::SUCCESS)
}

fn raw(args: &[String]) -> Result<ExitCode> {
    let hex = args.get(1).cloned().unwrap_or_else(|| usage());
    let mut rest: Vec<String> = args[2..].to_vec();
    let mut timeout = Duration::from_millis(10_000);
    if rest.first().map(String::as_str) == Some("--read-timeout-ms") {
        timeout = Duration::from_millis(
            rest.get(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage()),
        );
        rest.drain(..2);
    }
    let [host, port] = rest.as_slice() else {
        usage()
    };
    let bytes = decode_hex(&hex).ok_or("bad hex")?;
    let addr = (host.as_str(), port.parse::<u16>()?)
        .to_socket_addrs()?
        .next()
        .ok_or("no address")?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    let started = Instant::now();
    if let Err(e) = stream.write_all(&bytes) {
        println!("write_error={}", e.kind());
    }
    let deadline = started + timeout;
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break "timeout".to_string();
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break "eof".to_string(),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break "timeout".to_string()
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break "reset".to_string(),
            Err(e) => break format!("error:{}", e.kind()),
        }
    };
    let hex: String = received.iter().map(|b| format!("{b:02x}")).collect();
    println!("received={hex}");
    println!("end={end} elapsed_ms={}", started.elapsed().as_millis());
    Ok(ExitCode::SUCCESS)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
