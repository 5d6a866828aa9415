//! SQLSTATE codes the gateway itself reports (PostgreSQL's errcodes.txt).

/// 28000: the connecting process has no identity (unbound, unknown origin).
pub const INVALID_AUTHORIZATION_SPECIFICATION: &str = "28000";
/// 08P01: the client broke the protocol.
pub const PROTOCOL_VIOLATION: &str = "08P01";
/// 08001: the gateway could not reach or log in to the database.
pub const SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION: &str = "08001";
/// 08006: an established upstream connection failed.
pub const CONNECTION_FAILURE: &str = "08006";
/// 42501: refused by policy.
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// 57P03: the gateway is shutting down or not ready.
pub const CANNOT_CONNECT_NOW: &str = "57P03";
/// 0A000: a requested feature (e.g. a replication connection) is not offered.
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
/// XX000: an internal error in the gateway.
pub const INTERNAL_ERROR: &str = "XX000";
/// 54000: a message too large for the gateway to inspect.
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
/// 57014: a statement cancelled at the client's request.
pub const QUERY_CANCELED: &str = "57014";
