//! PostgreSQL wire protocol pieces the gateway speaks to clients. Pure: bytes
//! in, values out (and the reverse); no I/O here, so it is tested exhaustively.

pub mod backend;
pub mod frame;
pub mod frontend;
pub mod reader;
pub mod server_messages;
pub mod sqlstate;
pub mod startup;

pub use startup::{ProtocolVersion, StartupError, StartupPacket, MAX_STARTUP_LEN};
