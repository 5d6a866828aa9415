use std::{io, os::unix::fs::PermissionsExt, path::Path, sync::Arc};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
};
use tracing::{info, warn};

use super::{Request, Response, Status};
use crate::state::Shared;

/// Longest request line accepted (a bind request is a few hundred bytes).
const MAX_REQUEST: usize = 64 * 1024;

/// Binds the admin socket (root only) and serves it forever.
pub fn serve(path: &Path, shared: Arc<Shared>) -> io::Result<tokio::task::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket left by a killed daemon would make bind fail.
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    tokio::spawn(handle(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    warn!(reason = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

async fn handle(stream: UnixStream, shared: Arc<Shared>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64);
    let response = match reader.read_line(&mut line).await {
        Ok(_) => match serde_json::from_str::<Request>(&line) {
            Ok(request) => execute(request, &shared),
            Err(e) => Response::error(format!("bad request: {e}")),
        },
        Err(e) => Response::error(format!("reading request: {e}")),
    };
    let mut out = serde_json::to_vec(&response).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
    out.push(b'\n');
    let _ = write.write_all(&out).await;
}

fn execute(request: Request, shared: &Shared) -> Response {
    match request {
        Request::Status => Response {
            ok: true,
            status: Some(Status::collect(shared)),
            ..Response::default()
        },
        Request::Bind { subject, identity } => {
            result(crate::daemon::bind(shared, subject, identity))
        }
        Request::Unbind { subject } => result(crate::daemon::unbind(shared, &subject)),
        Request::Reload => result(crate::daemon::reload(shared)),
    }
}

fn result(r: anyhow::Result<String>) -> Response {
    match r {
        Ok(message) => {
            info!(%message, "admin request done");
            Response::ok(message)
        }
        Err(e) => {
            warn!(reason = %format!("{e:#}"), "admin request refused");
            Response::error(format!("{e:#}"))
        }
    }
}
