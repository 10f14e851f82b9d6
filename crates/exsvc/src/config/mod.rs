//! The typed configuration: a TOML file (`exsvc --config FILE`) layered under
//! the `EXSVC_*` environment (figment does the layering), read once at start and
//! validated. Every bad value is one clear line and exit code 2.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use exsvc_app::ratelimit::{IpNetwork, OnStoreError};
use exsvc_auth::{Algorithm, ClaimRules, HmacSecret, VerificationKey, SUPPORTED_ALGORITHMS};
use exsvc_crypto::Keyring;
use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;
use secrecy::SecretString;

/// The embedded store, relative to the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/exsvc.db";

/// Every setting, by its environment name. In a TOML file the same names are
/// written in lower case without the prefix (`db_pool_size = 16`).
const SETTINGS: [&str; 29] = [
    "EXSVC_LISTEN",
    "EXSVC_BODY_TIMEOUT_MS",
    "EXSVC_MAX_CONNECTIONS",
    "EXSVC_DATABASE_URL",
    "EXSVC_DB_POOL_SIZE",
    "EXSVC_DB_TIMEOUT_MS",
    "EXSVC_JWT_SECRET",
    "EXSVC_JWT_LEEWAY_SECS",
    "EXSVC_JWT_TENANT_CLAIM",
    "EXSVC_ALLOW_HTTP_BASE_URL",
    "EXSVC_BASE_PATH",
    "EXSVC_LOG",
    "EXSVC_LOG_FORMAT",
    "EXSVC_ENV",
    "EXSVC_DATA_DIR",
    "EXSVC_JWT_PUBLIC_KEY_FILES",
    "EXSVC_JWKS_URL",
    "EXSVC_JWT_ALGORITHMS",
    "EXSVC_JWT_ISSUER",
    "EXSVC_JWT_AUDIENCE",
    "EXSVC_DEBUG_ENDPOINTS",
    "EXSVC_MASTER_KEYS",
    "EXSVC_MASTER_KEY_FILE",
    "EXSVC_CREDENTIAL_MAX_VERSIONS",
    "EXSVC_RATE_LIMIT_PER_MINUTE",
    "EXSVC_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE",
    "EXSVC_REDIS_URL",
    "EXSVC_RATE_LIMIT_ON_STORE_ERROR",
    "EXSVC_TRUSTED_PROXIES",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Postgres(String),
    Sqlite(PathBuf),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database: Database,
    /// `EXSVC_DATABASE_URL` was not set: the embedded default is in use.
    pub database_defaulted: bool,
    pub pool_size: usize,
    pub db_timeout: Duration,
    /// `EXSVC_BODY_TIMEOUT_MS`: the longest wait for a whole request body.
    pub body_timeout: Duration,
    /// `EXSVC_MAX_CONNECTIONS`: open client connections served at once.
    pub max_connections: usize,
    /// `None` only in development: a secret is then kept in the data directory.
    pub jwt_secret: Option<HmacSecret>,
    /// Public keys read from `EXSVC_JWT_PUBLIC_KEY_FILES` at start.
    pub public_keys: Vec<VerificationKey>,
    pub jwks_url: Option<String>,
    /// `EXSVC_JWT_ALGORITHMS`; `None` allows all that the key sources allow.
    pub algorithms: Option<Vec<Algorithm>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub claim_rules: ClaimRules,
    pub debug_endpoints: bool,
    /// `None` only in development: a master key is then kept in the data directory.
    pub keyring: Option<Keyring>,
    pub credential_max_versions: usize,
    pub rate_limit_per_minute: u32,
    pub rate_limit_unauthenticated_per_minute: u32,
    /// Shared rate limiting across replicas; `None`: in-process.
    pub redis_url: Option<String>,
    pub rate_limit_on_store_error: OnStoreError,
    /// Load balancers whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNetwork>,
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub allow_http_base_url: bool,
    pub base_path: String,
    pub log_filter: String,
    pub log_format: Option<LogFormat>,
}

/// One bad setting: the variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

fn invalid(variable: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        reason: reason.into(),
    }
}

/// A TOML scalar as the text an environment variable would hold.
fn scalar_text(key: &str, value: &Value) -> Result<String, ConfigError> {
    match value {
        Value::String(_, s) => Ok(s.clone()),
        Value::Bool(_, b) => Ok(b.to_string()),
        Value::Num(_, n) => n
            .to_i128()
            .map(|i| i.to_string())
            .or_else(|| n.to_f64().map(|f| f.to_string()))
            .ok_or_else(|| invalid(key, "is not a number")),
        _ => Err(invalid(
            key,
            "must be a single value, not a table or a list",
        )),
    }
}

/// The settings: the file's, overridden by the environment's. Environment values
/// stay raw text (figment would otherwise read a secret like `[x]` as a list).
///
/// # Errors
/// A missing or malformed file, or a key in it that is not a setting.
pub fn layered(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        if !path.is_file() {
            return Err(invalid(
                "--config",
                format!("{} is not a readable file", path.display()),
            ));
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    // An empty variable is unset: it must not blank out the file's value.
    let env: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, v)| SETTINGS.contains(&k.as_str()) && !v.trim().is_empty())
        .map(|(k, v)| (k.trim_start_matches("EXSVC_").to_ascii_lowercase(), v))
        .collect();
    figment = figment.merge(Serialized::defaults(env));
    let merged: BTreeMap<String, Value> = figment
        .extract()
        .map_err(|e| invalid("--config", e.to_string()))?;
    merged
        .into_iter()
        .map(|(key, value)| {
            let variable = format!("EXSVC_{}", key.to_ascii_uppercase());
            if !SETTINGS.contains(&variable.as_str()) {
                return Err(invalid("--config", format!("'{key}' is not a setting")));
            }
            let text = scalar_text(&variable, &value)?;
            Ok((variable, text))
        })
        .collect()
}

/// The process's `EXSVC_*` variables. Other variables are ignored, whatever they
/// hold; an `EXSVC_*` one that is not UTF-8 is a configuration error.
///
/// # Errors
/// The first `EXSVC_*` variable whose value is not UTF-8.
pub fn process_env() -> Result<Vec<(String, String)>, ConfigError> {
    let mut vars = Vec::new();
    for (key, value) in std::env::vars_os() {
        let Some(key) = key.to_str().filter(|k| k.starts_with("EXSVC_")) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| invalid(key, "is not valid UTF-8"))?;
        vars.push((key.to_owned(), value));
    }
    Ok(vars)
}

/// Reads and validates settings by environment name. Empty values count as unset.
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self { values }
    }

    fn get(&self, variable: &str) -> Option<String> {
        self.values
            .get(variable)
            .filter(|v| !v.trim().is_empty())
            .cloned()
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        variable: &str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.get(variable) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| invalid(variable, format!("'{raw}' is not {what}"))),
        }
    }

    fn bounded(
        &self,
        variable: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        what: &str,
    ) -> Result<u64, ConfigError> {
        let value = self.parsed(variable, default, what)?;
        if !range.contains(&value) {
            return Err(invalid(
                variable,
                format!("must be from {} to {}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    fn flag(&self, variable: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(variable).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["true", "1", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(variable, format!("'{v}' is not true or false"))),
        }
    }

    pub fn database(&self) -> Result<Database, ConfigError> {
        let url = self
            .get("EXSVC_DATABASE_URL")
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url::Url::parse(&url)
                .map_err(|_| invalid("EXSVC_DATABASE_URL", "is not a valid postgres:// URL"))?;
            return Ok(Database::Postgres(url));
        }
        if url.starts_with("sqlite://") {
            return exsvc_store_sqlite::database_path(&url)
                .map(Database::Sqlite)
                .ok_or_else(|| {
                    invalid(
                        "EXSVC_DATABASE_URL",
                        "sqlite:// needs a file path, e.g. sqlite://data/exsvc.db",
                    )
                });
        }
        Err(invalid(
            "EXSVC_DATABASE_URL",
            "must start with postgres:// or sqlite://",
        ))
    }

    pub fn environment(&self) -> Result<Environment, ConfigError> {
        match self
            .get("EXSVC_ENV")
            .map(|v| v.trim().to_ascii_lowercase())
            .as_deref()
        {
            None | Some("development") => Ok(Environment::Development),
            Some("production") => Ok(Environment::Production),
            Some(other) => Err(invalid(
                "EXSVC_ENV",
                format!("'{other}' is not development or production"),
            )),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(
            self.get("EXSVC_DATA_DIR")
                .unwrap_or_else(|| "data".to_owned()),
        )
    }

    /// The configured HMAC secret; `None` when there is none.
    pub fn jwt_secret(&self) -> Result<Option<HmacSecret>, ConfigError> {
        self.get("EXSVC_JWT_SECRET")
            .map(|secret| {
                HmacSecret::new(SecretString::from(secret))
                    .map_err(|e| invalid("EXSVC_JWT_SECRET", e.to_string()))
            })
            .transpose()
    }

    fn public_keys(&self) -> Result<Vec<VerificationKey>, ConfigError> {
        let variable = "EXSVC_JWT_PUBLIC_KEY_FILES";
        let Some(list) = self.get(variable) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|path| !path.is_empty())
            .map(|path| {
                let pem =
                    std::fs::read(path).map_err(|e| invalid(variable, format!("{path}: {e}")))?;
                VerificationKey::from_pem(&pem)
                    .map_err(|reason| invalid(variable, format!("{path}: {reason}")))
            })
            .collect()
    }

    fn jwks_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.get("EXSVC_JWKS_URL") else {
            return Ok(None);
        };
        match url::Url::parse(url.trim()) {
            Ok(parsed)
                if matches!(parsed.scheme(), "https" | "http") && parsed.host_str().is_some() =>
            {
                Ok(Some(url.trim().to_owned()))
            }
            _ => Err(invalid("EXSVC_JWKS_URL", "must be an http(s) URL")),
        }
    }

    fn algorithms(&self) -> Result<Option<Vec<Algorithm>>, ConfigError> {
        let variable = "EXSVC_JWT_ALGORITHMS";
        let Some(list) = self.get(variable) else {
            return Ok(None);
        };
        let algorithms = list
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                name.parse::<Algorithm>()
                    .ok()
                    .filter(|alg| SUPPORTED_ALGORITHMS.contains(alg))
                    .ok_or_else(|| {
                        invalid(variable, format!("'{name}' is not a supported algorithm"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if algorithms.is_empty() {
            return Err(invalid(variable, "names no algorithm"));
        }
        Ok(Some(algorithms))
    }

    /// The master keyring from `EXSVC_MASTER_KEYS` or `EXSVC_MASTER_KEY_FILE`
    /// (not both); `None` when neither is set.
    pub fn keyring(&self) -> Result<Option<Keyring>, ConfigError> {
        match (
            self.get("EXSVC_MASTER_KEYS"),
            self.get("EXSVC_MASTER_KEY_FILE"),
        ) {
            (Some(_), Some(_)) => Err(invalid(
                "EXSVC_MASTER_KEYS",
                "and EXSVC_MASTER_KEY_FILE are both set; use one",
            )),
            (Some(keys), None) => Keyring::parse(&keys)
                .map(Some)
                .map_err(|e| invalid("EXSVC_MASTER_KEYS", e.to_string())),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| invalid("EXSVC_MASTER_KEY_FILE", format!("{path}: {e}")))?;
                Keyring::parse(&text)
                    .map(Some)
                    .map_err(|e| invalid("EXSVC_MASTER_KEY_FILE", format!("{path}: {e}")))
            }
            (None, None) => Ok(None),
        }
    }

    fn trusted_proxies(&self) -> Result<Vec<IpNetwork>, ConfigError> {
        let Some(list) = self.get("EXSVC_TRUSTED_PROXIES") else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                IpNetwork::parse(entry).ok_or_else(|| {
                    invalid(
                        "EXSVC_TRUSTED_PROXIES",
                        format!("'{entry}' is not an address or a network like 10.0.0.0/8"),
                    )
                })
            })
            .collect()
    }

    fn redis_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.get("EXSVC_REDIS_URL") else {
            return Ok(None);
        };
        match url::Url::parse(url.trim()) {
            Ok(parsed) if matches!(parsed.scheme(), "redis" | "rediss") => {
                Ok(Some(url.trim().to_owned()))
            }
            _ => Err(invalid(
                "EXSVC_REDIS_URL",
                "must be a redis:// or rediss:// URL",
            )),
        }
    }

    pub fn tenant_claim(&self) -> String {
        self.get("EXSVC_JWT_TENANT_CLAIM")
            .unwrap_or_else(|| "tenant_id".to_owned())
    }

    pub fn load(&self) -> Result<Config, ConfigError> {
        let listen = self.parsed(
            "EXSVC_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "a socket address such as 127.0.0.1:8080",
        )?;
        let pool_size = self.bounded("EXSVC_DB_POOL_SIZE", 16, 1..=1000, "a number")?;
        let timeout_ms = self.bounded(
            "EXSVC_DB_TIMEOUT_MS",
            3000,
            1..=600_000,
            "a number of milliseconds",
        )?;
        let leeway_secs =
            self.bounded("EXSVC_JWT_LEEWAY_SECS", 60, 0..=3600, "a number of seconds")?;
        let base_path = self.get("EXSVC_BASE_PATH").unwrap_or_default();
        let base_path = base_path.trim_end_matches('/').to_owned();
        let valid_segment = |seg: &str| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
        };
        let well_formed = base_path.is_empty()
            || (base_path.starts_with('/') && base_path[1..].split('/').all(valid_segment));
        if !well_formed {
            return Err(invalid("EXSVC_BASE_PATH", "must be a path such as /exsvc"));
        }
        let log_format = match self.get("EXSVC_LOG_FORMAT").map(|v| v.to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "json" => Some(LogFormat::Json),
            Some(v) if v == "text" => Some(LogFormat::Text),
            Some(v) => {
                return Err(invalid(
                    "EXSVC_LOG_FORMAT",
                    format!("'{v}' is not json or text"),
                ))
            }
        };
        let environment = self.environment()?;
        let jwt_secret = self.jwt_secret()?;
        let public_keys = self.public_keys()?;
        let jwks_url = self.jwks_url()?;
        let no_key_source = jwt_secret.is_none() && public_keys.is_empty() && jwks_url.is_none();
        if environment == Environment::Production
            && jwks_url
                .as_deref()
                .is_some_and(|u| u.starts_with("http://"))
        {
            // Anyone on the path could hand the server a signing key.
            return Err(invalid(
                "EXSVC_JWKS_URL",
                "must use https when EXSVC_ENV=production",
            ));
        }
        let algorithms = self.algorithms()?;
        if let Some(list) = &algorithms {
            // Development mode verifies with an HMAC secret it makes itself.
            let hmac = jwt_secret.is_some() || no_key_source;
            let offered = |alg: &Algorithm| {
                let is_hmac = matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512);
                (is_hmac && hmac)
                    || (!is_hmac && jwks_url.is_some())
                    || public_keys.iter().any(|k| k.algorithms.contains(alg))
            };
            if !list.iter().any(offered) {
                return Err(invalid(
                    "EXSVC_JWT_ALGORITHMS",
                    "names no algorithm the configured keys can verify: every token would be refused",
                ));
            }
        }
        if environment == Environment::Production && no_key_source {
            return Err(invalid(
                "EXSVC_JWT_SECRET",
                "(or EXSVC_JWT_PUBLIC_KEY_FILES or EXSVC_JWKS_URL) is required when EXSVC_ENV=production",
            ));
        }
        let keyring = self.keyring()?;
        if environment == Environment::Production && keyring.is_none() {
            return Err(invalid(
                "EXSVC_MASTER_KEYS",
                "(or EXSVC_MASTER_KEY_FILE) is required when EXSVC_ENV=production",
            ));
        }
        let credential_max_versions =
            self.bounded("EXSVC_CREDENTIAL_MAX_VERSIONS", 10, 0..=1000, "a number")?;
        Ok(Config {
            listen,
            database: self.database()?,
            database_defaulted: self.get("EXSVC_DATABASE_URL").is_none(),
            pool_size: usize::try_from(pool_size).unwrap_or(16),
            body_timeout: Duration::from_millis(self.bounded(
                "EXSVC_BODY_TIMEOUT_MS",
                10_000,
                100..=600_000,
                "a number of milliseconds",
            )?),
            max_connections: usize::try_from(self.bounded(
                "EXSVC_MAX_CONNECTIONS",
                1024,
                1..=1_000_000,
                "a number",
            )?)
            .unwrap_or(1024),
            db_timeout: Duration::from_millis(timeout_ms),
            jwt_secret,
            public_keys,
            jwks_url,
            algorithms,
            issuer: self.get("EXSVC_JWT_ISSUER"),
            audience: self.get("EXSVC_JWT_AUDIENCE"),
            claim_rules: ClaimRules {
                tenant_claim: self.tenant_claim(),
                leeway_secs,
            },
            // A diagnostics endpoint is for development: production opts in.
            debug_endpoints: self.flag(
                "EXSVC_DEBUG_ENDPOINTS",
                environment != Environment::Production,
            )?,
            keyring,
            credential_max_versions: usize::try_from(credential_max_versions).unwrap_or(10),
            rate_limit_per_minute: u32::try_from(self.bounded(
                "EXSVC_RATE_LIMIT_PER_MINUTE",
                100,
                1..=10_000_000,
                "a number",
            )?)
            .unwrap_or(100),
            rate_limit_unauthenticated_per_minute: u32::try_from(self.bounded(
                "EXSVC_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE",
                600,
                1..=10_000_000,
                "a number",
            )?)
            .unwrap_or(600),
            redis_url: self.redis_url()?,
            trusted_proxies: self.trusted_proxies()?,
            rate_limit_on_store_error: match self
                .get("EXSVC_RATE_LIMIT_ON_STORE_ERROR")
                .map(|v| v.to_ascii_lowercase())
                .as_deref()
            {
                None | Some("allow") => OnStoreError::Allow,
                Some("deny") => OnStoreError::Deny,
                Some(other) => {
                    return Err(invalid(
                        "EXSVC_RATE_LIMIT_ON_STORE_ERROR",
                        format!("'{other}' is not allow or deny"),
                    ))
                }
            },
            environment,
            data_dir: self.data_dir(),
            allow_http_base_url: self.flag("EXSVC_ALLOW_HTTP_BASE_URL", false)?,
            base_path,
            log_filter: self.get("EXSVC_LOG").unwrap_or_else(|| "info".to_owned()),
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

    fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
        vars.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Settings::new(layered(None, env(vars))?).load()
    }

    #[test]
    fn defaults_are_the_embedded_development_setup() {
        let config = load(&[]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.database,
            Database::Sqlite(PathBuf::from("data/exsvc.db"))
        );
        assert_eq!(config.environment, Environment::Development);
        assert!(config.jwt_secret.is_none());
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert_eq!(config.pool_size, 16);
        assert_eq!(config.db_timeout, Duration::from_millis(3000));
        assert_eq!(config.claim_rules.leeway_secs, 60);
        assert_eq!(config.claim_rules.tenant_claim, "tenant_id");
        assert!(!config.allow_http_base_url);
        assert_eq!(config.base_path, "");
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        let cases = [
            ("EXSVC_LISTEN", "localhost:no"),
            ("EXSVC_DB_POOL_SIZE", "0"),
            ("EXSVC_DB_POOL_SIZE", "many"),
            ("EXSVC_DB_TIMEOUT_MS", "-5"),
            ("EXSVC_JWT_LEEWAY_SECS", "1e3"),
            ("EXSVC_JWT_SECRET", "short"),
            ("EXSVC_DATABASE_URL", "mysql://x"),
            ("EXSVC_DATABASE_URL", "sqlite://"),
            ("EXSVC_DATABASE_URL", "postgres://[bad"),
            ("EXSVC_ALLOW_HTTP_BASE_URL", "maybe"),
            ("EXSVC_BASE_PATH", "exsvc"),
            ("EXSVC_BASE_PATH", "/a b"),
            ("EXSVC_LOG_FORMAT", "xml"),
            ("EXSVC_ENV", "staging"),
            ("EXSVC_JWT_PUBLIC_KEY_FILES", "/nonexistent.pem"),
            ("EXSVC_JWKS_URL", "ftp://keys"),
            ("EXSVC_JWT_ALGORITHMS", "none"),
            ("EXSVC_JWT_ALGORITHMS", "HS256,XX999"),
            ("EXSVC_DEBUG_ENDPOINTS", "perhaps"),
            ("EXSVC_JWT_ALGORITHMS", "RS256"),
            ("EXSVC_MASTER_KEYS", "k1:c2hvcnQ="),
            ("EXSVC_MASTER_KEYS", "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=,k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
            ("EXSVC_MASTER_KEY_FILE", "/nonexistent/keys"),
            ("EXSVC_CREDENTIAL_MAX_VERSIONS", "1001"),
            ("EXSVC_RATE_LIMIT_PER_MINUTE", "0"),
            ("EXSVC_RATE_LIMIT_UNAUTHENTICATED_PER_MINUTE", "lots"),
            ("EXSVC_REDIS_URL", "http://cache:6379"),
            ("EXSVC_RATE_LIMIT_ON_STORE_ERROR", "maybe"),
            ("EXSVC_TRUSTED_PROXIES", "10.0.0.0/40"),
        ];
        for (variable, value) in cases {
            let err = load(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{variable}={value}: {err}");
        }
    }

    #[test]
    fn production_requires_a_key_source_and_a_keyring() {
        let production = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![("EXSVC_ENV", "production")];
            vars.extend_from_slice(extra);
            load(&vars)
        };
        assert_eq!(
            production(&[("EXSVC_MASTER_KEYS", KEYS)])
                .unwrap_err()
                .variable,
            "EXSVC_JWT_SECRET"
        );
        assert_eq!(
            production(&[("EXSVC_JWT_SECRET", SECRET)])
                .unwrap_err()
                .variable,
            "EXSVC_MASTER_KEYS"
        );
        assert!(production(&[("EXSVC_JWT_SECRET", SECRET), ("EXSVC_MASTER_KEYS", KEYS)]).is_ok());
        assert!(production(&[
            ("EXSVC_MASTER_KEYS", KEYS),
            ("EXSVC_JWKS_URL", "https://auth.example/jwks")
        ])
        .is_ok());
        let plain = production(&[
            ("EXSVC_MASTER_KEYS", KEYS),
            ("EXSVC_JWKS_URL", "http://auth.example/jwks"),
        ]);
        assert_eq!(plain.unwrap_err().variable, "EXSVC_JWKS_URL");
        let pem = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../exsvc-testkit/fixtures/ec256-public.pem"
        );
        let config = production(&[
            ("EXSVC_MASTER_KEYS", KEYS),
            ("EXSVC_JWT_PUBLIC_KEY_FILES", pem),
        ])
        .unwrap();
        assert_eq!(config.public_keys.len(), 1);
        assert_eq!(config.keyring.unwrap().primary_id(), "k1");
    }

    #[test]
    fn debug_endpoints_are_off_in_production_unless_asked_for() {
        let mut vars = vec![
            ("EXSVC_ENV", "production"),
            ("EXSVC_JWT_SECRET", SECRET),
            ("EXSVC_MASTER_KEYS", KEYS),
        ];
        assert!(!load(&vars).unwrap().debug_endpoints);
        vars.push(("EXSVC_DEBUG_ENDPOINTS", "true"));
        assert!(load(&vars).unwrap().debug_endpoints);
    }

    #[test]
    fn an_empty_variable_does_not_blank_out_the_file() {
        let mut file = tempfile();
        writeln!(file.1, "jwt_secret = \"{SECRET}\"").unwrap();
        let values = layered(Some(&file.0), env(&[("EXSVC_JWT_SECRET", "")])).unwrap();
        assert!(Settings::new(values).load().unwrap().jwt_secret.is_some());
    }

    #[test]
    fn algorithms_and_debug_flag_parse() {
        let config = load(&[
            ("EXSVC_JWT_ALGORITHMS", "RS256, ES256,EdDSA"),
            ("EXSVC_JWKS_URL", "https://a.example/jwks"),
        ])
        .unwrap();
        assert_eq!(
            config.algorithms,
            Some(vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        );
        assert!(
            !load(&[("EXSVC_DEBUG_ENDPOINTS", "false")])
                .unwrap()
                .debug_endpoints
        );
        assert!(load(&[]).unwrap().debug_endpoints);
    }

    #[test]
    fn values_are_read() {
        let config = load(&[
            ("EXSVC_JWT_SECRET", SECRET),
            ("EXSVC_LISTEN", "0.0.0.0:9000"),
            ("EXSVC_BASE_PATH", "/exsvc/"),
            ("EXSVC_ALLOW_HTTP_BASE_URL", "true"),
            ("EXSVC_JWT_TENANT_CLAIM", "org"),
            ("EXSVC_DATABASE_URL", "postgres://u@h:5432/d"),
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.base_path, "/exsvc");
        assert!(config.allow_http_base_url);
        assert_eq!(config.claim_rules.tenant_claim, "org");
        assert_eq!(
            config.database,
            Database::Postgres("postgres://u@h:5432/d".into())
        );
    }

    #[test]
    fn the_environment_overrides_the_file_and_values_stay_text() {
        let mut file = tempfile();
        writeln!(file.1, "listen = \"127.0.0.1:7000\"\ndb_pool_size = 4\nallow_http_base_url = true\nlog = \"debug\"").unwrap();
        let values = layered(
            Some(&file.0),
            env(&[
                ("EXSVC_LISTEN", "127.0.0.1:7001"),
                ("EXSVC_JWT_SECRET", "[not-a-list-just-a-secret-32bytes]"),
                ("HOME", "/x"),
            ]),
        )
        .unwrap();
        let config = Settings::new(values).load().unwrap();
        assert_eq!(config.listen.port(), 7001, "the environment wins");
        assert_eq!(config.pool_size, 4, "the file fills in");
        assert!(config.allow_http_base_url);
        assert_eq!(config.log_filter, "debug");
        assert!(config.jwt_secret.is_some());
    }

    #[test]
    fn bad_files_are_configuration_errors() {
        let mut unknown = tempfile();
        writeln!(unknown.1, "colour = \"red\"").unwrap();
        assert!(layered(Some(&unknown.0), [])
            .unwrap_err()
            .reason
            .contains("colour"));
        let mut malformed = tempfile();
        writeln!(malformed.1, "listen = ").unwrap();
        assert_eq!(
            layered(Some(&malformed.0), []).unwrap_err().variable,
            "--config"
        );
        let mut nested = tempfile();
        writeln!(nested.1, "[listen]\nport = 1").unwrap();
        assert!(layered(Some(&nested.0), []).is_err());
        assert!(layered(Some(Path::new("/nonexistent/exsvc.toml")), []).is_err());
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let config = load(&[("EXSVC_JWT_SECRET", SECRET)]).unwrap();
        assert!(!format!("{config:?}").contains(SECRET));
    }

    fn tempfile() -> (PathBuf, std::fs::File) {
        let path = std::env::temp_dir().join(format!("exsvc-config-{}.toml", uuid_like()));
        let file = std::fs::File::create(&path).unwrap();
        (path, file)
    }

    fn uuid_like() -> String {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
