//! Holds many idle PostgreSQL sessions open, for the memory measurements.
//!
//! ```text
//! pg-hold [--tls] N HOST PORT USER PASSWORD DBNAME
//!     raises its own open-file limit, opens N connections with tokio-postgres
//!     (at most 50 starting at a time), runs `SELECT 1` on each, prints
//!     `ready N elapsed_ms=..`, then holds them idle until stdin closes; then runs
//!     `SELECT 1` on each again, prints `alive N` and exits 0. A failure prints
//!     `ERROR ...` and exits 2. `--tls`: sslmode=require (encrypted, the
//!     certificate is not checked, as libpq does for `require`).
//! ```

use std::{
    error::Error,
    io::{Read, Write},
    net::IpAddr,
    pin::Pin,
    process::ExitCode,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use rustls::{pki_types::ServerName, ClientConfig};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::Semaphore,
    task::JoinSet,
};
use tokio_postgres::{
    config::SslMode,
    tls::{ChannelBinding, MakeTlsConnect, TlsConnect},
    Client, Config, NoTls, Socket,
};

/// Connections being set up at once: enough to be quick, few enough not to
/// look like a connection storm to the gateway or the server.
const STARTING_AT_ONCE: usize = 50;

type BoxError = Box<dyn Error + Send + Sync>;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let tls = args.first().map(String::as_str) == Some("--tls");
    if tls {
        args.remove(0);
    }
    let [count, host, port, user, password, dbname] = args.as_slice() else {
        eprintln!("usage: pg-hold [--tls] N HOST PORT USER PASSWORD DBNAME");
        return ExitCode::from(64);
    };
    let (Ok(count), Ok(port)) = (count.parse::<usize>(), port.parse::<u16>()) else {
        eprintln!("pg-hold: N and PORT must be numbers");
        return ExitCode::from(64);
    };
    raise_nofile();
    let mut config = Config::new();
    config
        .host(host)
        .port(port)
        .user(user)
        .password(password)
        .dbname(dbname)
        .application_name("pg-hold")
        .connect_timeout(Duration::from_secs(30));
    if let Ok(ip) = host.parse::<IpAddr>() {
        config.hostaddr(ip);
    }
    if tls {
        config.ssl_mode(SslMode::Require);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(hold(config, count, tls)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // tokio-postgres says "db error" and keeps the server's words in the source.
            let mut text = e.to_string();
            let mut source = e.source();
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            println!("ERROR {text}");
            ExitCode::from(2)
        }
    }
}

async fn hold(config: Config, count: usize, tls: bool) -> Result<(), BoxError> {
    let started = Instant::now();
    let config = Arc::new(config);
    let gate = Arc::new(Semaphore::new(STARTING_AT_ONCE));
    let mut opening = JoinSet::new();
    for _ in 0..count {
        let (config, gate) = (Arc::clone(&config), Arc::clone(&gate));
        opening.spawn(async move {
            let _turn = gate.acquire_owned().await?;
            let client = if tls {
                connect(&config, RequireTls::new()).await?
            } else {
                connect(&config, NoTls).await?
            };
            client.simple_query("SELECT 1").await?;
            Ok::<_, BoxError>(client)
        });
    }
    let mut clients = Vec::with_capacity(count);
    while let Some(joined) = opening.join_next().await {
        clients.push(joined??);
    }
    println!(
        "ready {} elapsed_ms={}",
        clients.len(),
        started.elapsed().as_millis()
    );
    std::io::stdout().flush()?;

    // The sessions stay idle (their connection tasks parked) until stdin closes.
    tokio::task::spawn_blocking(|| {
        let mut buf = [0u8; 64];
        let mut stdin = std::io::stdin();
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
    })
    .await?;

    let mut checking = JoinSet::new();
    for client in clients {
        checking.spawn(async move { client.simple_query("SELECT 1").await.map(|_| ()) });
    }
    let mut alive = 0;
    while let Some(joined) = checking.join_next().await {
        joined??;
        alive += 1;
    }
    println!("alive {alive}");
    Ok(())
}

async fn connect<T>(config: &Config, tls: T) -> Result<Client, tokio_postgres::Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = config.connect(tls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("pg-hold: connection: {e}");
        }
    });
    Ok(client)
}

/// The open-file limit: each session is one descriptor here.
fn raise_nofile() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only touch the struct we own.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// sslmode=require for tokio-postgres with rustls: encrypted, certificate not checked.
#[derive(Clone)]
struct RequireTls(Arc<ClientConfig>);

impl RequireTls {
    fn new() -> Self {
        // The gateway's own `tls = "require"` configuration.
        Self(cordon::upstream::unverified_tls_config())
    }
}

impl MakeTlsConnect<Socket> for RequireTls {
    type Stream = TlsStream;
    type TlsConnect = RequireTls;
    type Error = BoxError;

    fn make_tls_connect(&mut self, _domain: &str) -> Result<RequireTls, BoxError> {
        Ok(self.clone())
    }
}

impl TlsConnect<Socket> for RequireTls {
    type Stream = TlsStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<TlsStream, BoxError>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            // The name is never checked (AnyCertificate); rustls still wants one.
            let name = ServerName::try_from("localhost")?;
            let stream = tokio_rustls::TlsConnector::from(self.0)
                .connect(name, socket)
                .await?;
            Ok(TlsStream(stream))
        })
    }
}

struct TlsStream(tokio_rustls::client::TlsStream<Socket>);

impl tokio_postgres::tls::TlsStream for TlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
