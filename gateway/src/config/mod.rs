//! The configuration file: schema, loading and validation. Everything that can
//! be checked without touching the system is checked here, so a bad file is
//! refused at start-up or reload with its line and field named.

mod error;
mod file;
mod masking;
mod policy;
mod recording;
mod subject;

use std::{
    collections::HashSet,
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
};

use serde::Deserialize;
use toml::Spanned;

pub use error::{ConfigError, Location};
pub use recording::{parse_duration, Recording, RecordingStore, RecordingSync};
pub use subject::Subject;

pub const DEFAULT_LISTEN_PORT: u16 = 15432;
/// "CORD": the SO_MARK the gateway's own upstream sockets carry.
pub const DEFAULT_SOCKET_MARK: u32 = 0x434f_5244;
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/cordon";

#[derive(Debug, Clone)]
pub struct Config {
    pub gateway: Gateway,
    pub intercept: Intercept,
    pub endpoints: Vec<Endpoint>,
    pub credentials: Vec<Credential>,
    pub identities: Vec<Identity>,
    pub bindings: Vec<Binding>,
    pub exempt: Vec<Exemption>,
    /// The SQL policy (`[[allow]]`, `[[deny]]`, `[[baseline_override]]`).
    pub policy: std::sync::Arc<crate::policy::Policy>,
    /// Where session records are kept (`[recording]`).
    pub recording: Recording,
    /// Masking rules and content detectors (`[masking]`, `[[mask]]`,
    /// `[[detect]]`); empty when masking is off.
    pub masking: crate::masking::MaskPolicy,
}

#[derive(Debug, Clone)]
pub struct Gateway {
    pub listen_port: u16,
    pub state_dir: PathBuf,
    pub admin_socket: PathBuf,
    pub startup_timeout_secs: u64,
    /// Session worker threads (each its own single-threaded runtime).
    pub worker_threads: usize,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Intercept {
    pub pin_dir: PathBuf,
    /// cgroup2 path (relative to the mount) the programs attach to.
    pub attach_cgroup: String,
    pub socket_mark: u32,
}

/// Upstream TLS, named as libpq's sslmode values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTls {
    Disable,
    #[default]
    Prefer,
    Require,
    /// Require, and the server's certificate must chain to `tls_ca`.
    VerifyCa,
    /// VerifyCa, and the certificate must name the server (`tls_server_name`,
    /// else the address connected to).
    VerifyFull,
}

impl UpstreamTls {
    pub fn verifies(self) -> bool {
        matches!(self, UpstreamTls::VerifyCa | UpstreamTls::VerifyFull)
    }
}

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    pub addresses: Vec<SocketAddr>,
    pub tls: UpstreamTls,
    /// PEM file of the CA(s) the server's certificate must chain to.
    pub tls_ca: Option<PathBuf>,
    /// The name the certificate must carry (verify-full).
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Credential {
    pub role: String,
    password: Option<String>,
    password_file: Option<PathBuf>,
    /// For errors found when the password file is read.
    origin: (PathBuf, Option<Location>),
}

#[derive(Debug, Clone)]
pub struct Identity {
    pub name: String,
    pub groups: Vec<String>,
    pub role: String,
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub subject: Subject,
    pub identity: String,
}

#[derive(Debug, Clone)]
pub struct Exemption {
    pub subject: Subject,
    pub reason: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path, format!("cannot read the configuration: {e}")))?;
        Self::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: file::File =
            toml::from_str(text).map_err(|e| ConfigError::from_toml(path, text, &e))?;
        Validator { path, text }.build(raw)
    }

    pub fn identity(&self, name: &str) -> Option<&Identity> {
        self.identities.iter().find(|i| i.name == name)
    }

    pub fn credential(&self, role: &str) -> Option<&Credential> {
        self.credentials.iter().find(|c| c.role == role)
    }
}

impl Credential {
    /// The password, read from its file if it has one. A file others can
    /// read is refused: it would leak the secret agents must never see.
    pub fn resolve_password(&self) -> Result<Option<String>, ConfigError> {
        let Some(file) = &self.password_file else {
            return Ok(self.password.clone());
        };
        let error = |message: String| ConfigError {
            file: self.origin.0.clone(),
            location: self.origin.1.clone(),
            field: Some("password_file".into()),
            message,
        };
        let meta = std::fs::metadata(file)
            .map_err(|e| error(format!("cannot read {}: {e}", file.display())))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(error(format!(
                "{} is readable by group or others (mode {:o}); chmod 600 it",
                file.display(),
                meta.permissions().mode() & 0o777
            )));
        }
        let secret = std::fs::read_to_string(file)
            .map_err(|e| error(format!("cannot read {}: {e}", file.display())))?;
        Ok(Some(secret.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

/// Turns the raw file into a checked `Config`, one table at a time.
struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Validator<'_> {
    fn error<T>(
        &self,
        spanned: &Spanned<T>,
        field: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::new(self.path, message)
            .at(self.text, spanned.span())
            .field(field)
    }

    fn build(&self, raw: file::File) -> Result<Config, ConfigError> {
        let gateway = self.gateway(raw.gateway)?;
        let intercept = self.intercept(raw.intercept)?;
        let endpoints = self.endpoints(raw.endpoint, gateway.listen_port)?;
        let credentials = self.credentials(raw.credential)?;
        let identities = self.identities(raw.identity, &credentials)?;
        let bindings = self.bindings(raw.bind, &identities)?;
        let exempt = self.exemptions(raw.exempt, &bindings)?;
        let policy = self.policy(raw.allow, raw.deny, raw.baseline_override, &identities)?;
        let recording = self.recording(raw.recording, &gateway.state_dir)?;
        let masking = self.masking(raw.masking, raw.mask, raw.detect, &identities)?;
        Ok(Config {
            gateway,
            intercept,
            endpoints,
            credentials,
            identities,
            bindings,
            exempt,
            policy: std::sync::Arc::new(policy),
            recording,
            masking,
        })
    }

    fn gateway(&self, raw: Option<file::GatewayTable>) -> Result<Gateway, ConfigError> {
        let mut gateway = Gateway {
            listen_port: DEFAULT_LISTEN_PORT,
            state_dir: "/var/lib/cordon".into(),
            admin_socket: "/run/cordon/admin.sock".into(),
            startup_timeout_secs: 10,
            worker_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tls_cert: None,
            tls_key: None,
        };
        let Some(raw) = raw else { return Ok(gateway) };
        if let Some(port) = raw.listen_port {
            if *port.get_ref() == 0 {
                return Err(self.error(
                    &port,
                    "listen_port",
                    "must be a port number from 1 to 65535",
                ));
            }
            gateway.listen_port = port.into_inner();
        }
        if let Some(timeout) = raw.startup_timeout_secs {
            if !(1..=600).contains(timeout.get_ref()) {
                return Err(self.error(
                    &timeout,
                    "startup_timeout_secs",
                    "must be from 1 to 600 seconds",
                ));
            }
            gateway.startup_timeout_secs = timeout.into_inner();
        }
        if let Some(threads) = raw.worker_threads {
            if !(1..=256).contains(threads.get_ref()) {
                return Err(self.error(&threads, "worker_threads", "must be from 1 to 256"));
            }
            gateway.worker_threads = threads.into_inner();
        }
        gateway.state_dir = raw.state_dir.unwrap_or(gateway.state_dir);
        gateway.admin_socket = raw.admin_socket.unwrap_or(gateway.admin_socket);
        match (raw.tls_cert, raw.tls_key) {
            (Some(cert), Some(key)) => {
                gateway.tls_cert = Some(cert.into_inner());
                gateway.tls_key = Some(key.into_inner());
            }
            (Some(cert), None) => {
                return Err(self.error(&cert, "tls_cert", "needs tls_key as well"))
            }
            (None, Some(key)) => return Err(self.error(&key, "tls_key", "needs tls_cert as well")),
            (None, None) => {}
        }
        Ok(gateway)
    }

    fn intercept(&self, raw: Option<file::InterceptTable>) -> Result<Intercept, ConfigError> {
        let mut intercept = Intercept {
            pin_dir: DEFAULT_PIN_DIR.into(),
            attach_cgroup: "/".into(),
            socket_mark: DEFAULT_SOCKET_MARK,
        };
        let Some(raw) = raw else { return Ok(intercept) };
        intercept.pin_dir = raw.pin_dir.unwrap_or(intercept.pin_dir);
        if let Some(cgroup) = raw.attach_cgroup {
            let subject = Subject::Cgroup(cgroup.get_ref().clone());
            subject
                .validate()
                .map_err(|m| self.error(&cgroup, "attach_cgroup", m))?;
            let Subject::Cgroup(path) = subject.normalized() else {
                unreachable!()
            };
            intercept.attach_cgroup = path;
        }
        if let Some(mark) = raw.socket_mark {
            if *mark.get_ref() == 0 {
                return Err(self.error(
                    &mark,
                    "socket_mark",
                    "must not be 0 (unmarked sockets carry 0)",
                ));
            }
            intercept.socket_mark = mark.into_inner();
        }
        Ok(intercept)
    }

    fn endpoints(
        &self,
        raw: Vec<file::EndpointTable>,
        listen_port: u16,
    ) -> Result<Vec<Endpoint>, ConfigError> {
        if raw.is_empty() {
            return Err(ConfigError::new(
                self.path,
                "no [[endpoint]]: name at least one database to protect",
            )
            .field("endpoint"));
        }
        let mut names = HashSet::new();
        let mut seen = HashSet::new();
        let mut endpoints = Vec::new();
        for table in raw {
            if !names.insert(table.name.get_ref().clone()) {
                return Err(self.error(
                    &table.name,
                    "name",
                    format!("endpoint \"{}\" is defined twice", table.name.get_ref()),
                ));
            }
            if table.addresses.get_ref().is_empty() {
                return Err(self.error(
                    &table.addresses,
                    "addresses",
                    "needs at least one IP:port",
                ));
            }
            for address in table.addresses.get_ref() {
                if address.port() == 0 {
                    return Err(self.error(
                        &table.addresses,
                        "addresses",
                        format!("{address}: port 0"),
                    ));
                }
                if address.ip().is_unspecified() {
                    return Err(self.error(
                        &table.addresses,
                        "addresses",
                        format!("{address}: give the address clients connect to, not a wildcard"),
                    ));
                }
                if address.ip().is_loopback() && address.port() == listen_port {
                    return Err(self.error(
                        &table.addresses,
                        "addresses",
                        format!("{address} is the gateway's own listener (gateway.listen_port)"),
                    ));
                }
                if !seen.insert(*address) {
                    return Err(self.error(
                        &table.addresses,
                        "addresses",
                        format!("{address} is listed twice"),
                    ));
                }
            }
            self.endpoint_tls(&table)?;
            endpoints.push(Endpoint {
                name: table.name.into_inner(),
                addresses: table.addresses.into_inner(),
                tls: table.tls.map(Spanned::into_inner).unwrap_or_default(),
                tls_ca: table.tls_ca.map(Spanned::into_inner),
                tls_server_name: table.tls_server_name.map(Spanned::into_inner),
            });
        }
        Ok(endpoints)
    }

    /// verify-ca and verify-full need a CA; a CA or server name without
    /// verification would be silently ignored, so both are refused.
    fn endpoint_tls(&self, table: &file::EndpointTable) -> Result<(), ConfigError> {
        let mode = table.tls.as_ref().map(|t| *t.get_ref()).unwrap_or_default();
        match (&table.tls, &table.tls_ca) {
            (Some(tls), None) if mode.verifies() => {
                return Err(self.error(
                    tls,
                    "tls",
                    "verify-ca and verify-full need tls_ca (a PEM file of the CA)",
                ))
            }
            (_, Some(ca)) if !mode.verifies() => {
                return Err(self.error(
                    ca,
                    "tls_ca",
                    "is only used with tls = \"verify-ca\" or \"verify-full\"",
                ))
            }
            _ => {}
        }
        if let Some(name) = &table.tls_server_name {
            if mode != UpstreamTls::VerifyFull {
                return Err(self.error(
                    name,
                    "tls_server_name",
                    "is only used with tls = \"verify-full\"",
                ));
            }
            if rustls::pki_types::ServerName::try_from(name.get_ref().as_str()).is_err() {
                return Err(self.error(
                    name,
                    "tls_server_name",
                    "is not a valid DNS name or IP address",
                ));
            }
        }
        Ok(())
    }

    fn credentials(&self, raw: Vec<file::CredentialTable>) -> Result<Vec<Credential>, ConfigError> {
        let mut roles = HashSet::new();
        let mut credentials = Vec::new();
        for table in raw {
            if !roles.insert(table.role.get_ref().clone()) {
                return Err(self.error(
                    &table.role,
                    "role",
                    format!("role \"{}\" has two credentials", table.role.get_ref()),
                ));
            }
            if let (Some(_), Some(file)) = (&table.password, &table.password_file) {
                return Err(self.error(
                    file,
                    "password_file",
                    "give password or password_file, not both",
                ));
            }
            let location = table
                .password_file
                .as_ref()
                .map(|f| Location::of_offset(self.text, f.span().start));
            credentials.push(Credential {
                role: table.role.into_inner(),
                password: table.password.map(Spanned::into_inner),
                password_file: table.password_file.map(Spanned::into_inner),
                origin: (self.path.to_owned(), location),
            });
        }
        Ok(credentials)
    }

    fn identities(
        &self,
        raw: Vec<file::IdentityTable>,
        credentials: &[Credential],
    ) -> Result<Vec<Identity>, ConfigError> {
        let mut names = HashSet::new();
        let mut identities = Vec::new();
        for table in raw {
            if !names.insert(table.name.get_ref().clone()) {
                return Err(self.error(
                    &table.name,
                    "name",
                    format!("identity \"{}\" is defined twice", table.name.get_ref()),
                ));
            }
            if !credentials.iter().any(|c| &c.role == table.role.get_ref()) {
                return Err(self.error(
                    &table.role,
                    "role",
                    format!(
                        "role \"{}\" has no [[credential]], so the gateway cannot log in as it",
                        table.role.get_ref()
                    ),
                ));
            }
            identities.push(Identity {
                name: table.name.into_inner(),
                groups: table.groups,
                role: table.role.into_inner(),
            });
        }
        Ok(identities)
    }

    /// The one subject of a `[[bind]]` or `[[exempt]]`, checked and normalized.
    fn subject(&self, table: &file::SubjectTable, kind: &str) -> Result<Subject, ConfigError> {
        let (subject, spanned) = match (&table.cgroup, &table.unit) {
            (Some(c), None) => (Subject::Cgroup(c.get_ref().clone()), c),
            (None, Some(u)) => (Subject::Unit(u.get_ref().clone()), u),
            (Some(_), Some(u)) => {
                return Err(self.error(
                    u,
                    "unit",
                    format!("a [[{kind}]] has cgroup or unit, not both"),
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    self.path,
                    format!("a [[{kind}]] needs cgroup or unit"),
                )
                .field(kind))
            }
        };
        subject
            .validate()
            .map_err(|m| self.error(spanned, subject.key(), m))?;
        Ok(subject.normalized())
    }

    fn bindings(
        &self,
        raw: Vec<file::SubjectTable>,
        identities: &[Identity],
    ) -> Result<Vec<Binding>, ConfigError> {
        let mut bindings: Vec<Binding> = Vec::new();
        for table in raw {
            let subject = self.subject(&table, "bind")?;
            if let Some(reason) = &table.reason {
                return Err(self.error(reason, "reason", "belongs to [[exempt]], not [[bind]]"));
            }
            let Some(identity) = table.identity else {
                return Err(ConfigError::new(
                    self.path,
                    format!("[[bind]] for {subject} needs identity"),
                )
                .field("identity"));
            };
            if !identities.iter().any(|i| &i.name == identity.get_ref()) {
                return Err(self.error(
                    &identity,
                    "identity",
                    format!("identity \"{}\" is not defined", identity.get_ref()),
                ));
            }
            if bindings.iter().any(|b| b.subject == subject) {
                return Err(self.error(&identity, "identity", format!("{subject} is bound twice")));
            }
            bindings.push(Binding {
                subject,
                identity: identity.into_inner(),
            });
        }
        Ok(bindings)
    }

    fn exemptions(
        &self,
        raw: Vec<file::SubjectTable>,
        bindings: &[Binding],
    ) -> Result<Vec<Exemption>, ConfigError> {
        let mut exempt: Vec<Exemption> = Vec::new();
        for table in raw {
            let subject = self.subject(&table, "exempt")?;
            if let Some(identity) = &table.identity {
                return Err(self.error(
                    identity,
                    "identity",
                    "an exempt subject has no identity; use [[bind]]",
                ));
            }
            if bindings.iter().any(|b| b.subject == subject) {
                let spanned = table
                    .cgroup
                    .as_ref()
                    .or(table.unit.as_ref())
                    .expect("checked by subject()");
                return Err(self.error(
                    spanned,
                    subject.key(),
                    format!("{subject} is both bound and exempt"),
                ));
            }
            exempt.push(Exemption {
                subject,
                reason: table.reason.map(Spanned::into_inner),
            });
        }
        Ok(exempt)
    }
}

#[cfg(test)]
mod tests;
