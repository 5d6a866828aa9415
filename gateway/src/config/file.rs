//! The TOML file exactly as written. Fields that later checks refer to keep
//! their position (`Spanned`) so an error can point at the line.

use std::{net::SocketAddr, path::PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::UpstreamTls;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub gateway: Option<GatewayTable>,
    #[serde(default)]
    pub intercept: Option<InterceptTable>,
    #[serde(default)]
    pub endpoint: Vec<EndpointTable>,
    #[serde(default)]
    pub credential: Vec<CredentialTable>,
    #[serde(default)]
    pub identity: Vec<IdentityTable>,
    #[serde(default)]
    pub bind: Vec<SubjectTable>,
    #[serde(default)]
    pub exempt: Vec<SubjectTable>,
    #[serde(default)]
    pub allow: Vec<RuleTable>,
    #[serde(default)]
    pub deny: Vec<RuleTable>,
    #[serde(default)]
    pub baseline_override: Vec<OverrideTable>,
    #[serde(default)]
    pub recording: Option<RecordingTable>,
    #[serde(default)]
    pub masking: Option<MaskingTable>,
    #[serde(default)]
    pub mask: Vec<MaskTable>,
    #[serde(default)]
    pub detect: Vec<DetectTable>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayTable {
    pub listen_port: Option<Spanned<u16>>,
    pub state_dir: Option<PathBuf>,
    pub admin_socket: Option<PathBuf>,
    pub startup_timeout_secs: Option<Spanned<u64>>,
    pub worker_threads: Option<Spanned<usize>>,
    pub tls_cert: Option<Spanned<PathBuf>>,
    pub tls_key: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterceptTable {
    pub pin_dir: Option<PathBuf>,
    pub attach_cgroup: Option<Spanned<String>>,
    pub socket_mark: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointTable {
    pub name: Spanned<String>,
    pub addresses: Spanned<Vec<SocketAddr>>,
    pub tls: Option<Spanned<UpstreamTls>>,
    pub tls_ca: Option<Spanned<PathBuf>>,
    pub tls_server_name: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialTable {
    pub role: Spanned<String>,
    pub password: Option<Spanned<String>>,
    pub password_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityTable {
    pub name: Spanned<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    pub role: Spanned<String>,
}

/// `[[bind]]` (with `identity`) and `[[exempt]]` (with `reason`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTable {
    pub cgroup: Option<Spanned<String>>,
    pub unit: Option<Spanned<String>>,
    pub identity: Option<Spanned<String>>,
    pub reason: Option<Spanned<String>>,
}

/// `[[allow]]` and `[[deny]]` (docs/policy.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleTable {
    pub name: Spanned<String>,
    pub identities: Option<Spanned<Vec<String>>>,
    pub groups: Option<Spanned<Vec<String>>>,
    pub actions: Option<Spanned<Vec<String>>>,
    pub objects: Option<Spanned<Vec<String>>>,
    pub functions: Option<Spanned<Vec<String>>>,
    pub languages: Option<Spanned<Vec<String>>>,
    pub fast_path_calls: Option<Spanned<bool>>,
    pub require_approval: Option<Spanned<bool>>,
}

/// `[[baseline_override]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideTable {
    pub name: Spanned<String>,
    pub check: Spanned<String>,
    pub identities: Option<Spanned<Vec<String>>>,
    pub groups: Option<Spanned<Vec<String>>>,
    pub reason: Option<Spanned<String>>,
}

/// `[recording]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingTable {
    pub enabled: Option<Spanned<bool>>,
    pub store: Option<Spanned<String>>,
    pub path: Option<Spanned<PathBuf>>,
    pub conninfo: Option<Spanned<String>>,
    pub sync: Option<Spanned<String>>,
    pub max_rows: Option<Spanned<usize>>,
    pub max_bytes: Option<Spanned<usize>>,
    pub retention: Option<Spanned<String>>,
}

/// `[masking]` (docs/masking.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskingTable {
    pub hash_key_file: Option<Spanned<PathBuf>>,
}

/// `[[mask]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskTable {
    pub name: Spanned<String>,
    pub columns: Spanned<Vec<String>>,
    pub mask: Spanned<String>,
    pub text: Option<Spanned<String>>,
    pub exempt_identities: Option<Spanned<Vec<String>>>,
    pub exempt_groups: Option<Spanned<Vec<String>>>,
    pub allow_uses: Option<Spanned<Vec<String>>>,
}

/// `[[detect]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectTable {
    pub name: Spanned<String>,
    pub identities: Option<Spanned<Vec<String>>>,
    pub groups: Option<Spanned<Vec<String>>>,
    pub kinds: Spanned<Vec<String>>,
}
