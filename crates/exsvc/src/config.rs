//! The typed configuration, read once at start from `EXSVC_*` variables and
//! validated: every bad value is one clear line and exit code 2.

use std::net::SocketAddr;
use std::time::Duration;

use exsvc_auth::{ClaimRules, HmacSecret};
use secrecy::SecretString;

/// Until the embedded SQLite store exists, the local PostgreSQL is the default.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/exsvc";

#[derive(Debug)]
pub struct Config {
    pub listen: SocketAddr,
    pub database_url: String,
    pub pool_size: usize,
    pub db_timeout: Duration,
    pub jwt_secret: HmacSecret,
    pub claim_rules: ClaimRules,
    pub allow_http_base_url: bool,
    pub base_path: String,
    pub log_filter: String,
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

/// One bad setting: the variable and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {reason}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub reason: String,
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        reason: reason.into(),
    }
}

/// Reads settings through `lookup` (the process environment in production, a map
/// in tests). Empty values count as unset.
pub struct Settings<F: Fn(&str) -> Option<String>> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    fn get(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|v| !v.trim().is_empty())
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        variable: &'static str,
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

    fn flag(&self, variable: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(variable).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["true", "1", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["false", "0", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(invalid(variable, format!("'{v}' is not true or false"))),
        }
    }

    pub fn database_url(&self) -> Result<String, ConfigError> {
        let url = self
            .get("EXSVC_DATABASE_URL")
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let parsed =
            url::Url::parse(&url).map_err(|_| invalid("EXSVC_DATABASE_URL", "is not a URL"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(invalid("EXSVC_DATABASE_URL", "must be a postgres:// URL"));
        }
        Ok(url)
    }

    pub fn jwt_secret(&self) -> Result<HmacSecret, ConfigError> {
        let secret = self.get("EXSVC_JWT_SECRET").ok_or_else(|| {
            invalid(
                "EXSVC_JWT_SECRET",
                "is required (an HMAC secret of at least 32 bytes)",
            )
        })?;
        HmacSecret::new(SecretString::from(secret))
            .map_err(|e| invalid("EXSVC_JWT_SECRET", e.to_string()))
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
        let pool_size: usize = self.parsed("EXSVC_DB_POOL_SIZE", 16, "a number")?;
        if !(1..=1000).contains(&pool_size) {
            return Err(invalid("EXSVC_DB_POOL_SIZE", "must be from 1 to 1000"));
        }
        let timeout_ms: u64 =
            self.parsed("EXSVC_DB_TIMEOUT_MS", 3000, "a number of milliseconds")?;
        if !(1..=600_000).contains(&timeout_ms) {
            return Err(invalid("EXSVC_DB_TIMEOUT_MS", "must be from 1 to 600000"));
        }
        let leeway_secs: u64 = self.parsed("EXSVC_JWT_LEEWAY_SECS", 60, "a number of seconds")?;
        if leeway_secs > 3600 {
            return Err(invalid("EXSVC_JWT_LEEWAY_SECS", "must be at most 3600"));
        }
        let tenant_claim = self.tenant_claim();
        let base_path = self.get("EXSVC_BASE_PATH").unwrap_or_default();
        let base_path = base_path.trim_end_matches('/').to_owned();
        if !base_path.is_empty()
            && (!base_path.starts_with('/')
                || !base_path[1..].split('/').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b))
                }))
        {
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
        Ok(Config {
            listen,
            database_url: self.database_url()?,
            pool_size,
            db_timeout: Duration::from_millis(timeout_ms),
            jwt_secret: self.jwt_secret()?,
            claim_rules: ClaimRules {
                tenant_claim,
                leeway_secs,
            },
            allow_http_base_url: self.flag("EXSVC_ALLOW_HTTP_BASE_URL", false)?,
            base_path,
            log_filter: self.get("EXSVC_LOG").unwrap_or_else(|| "info".to_owned()),
            log_format,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::new(move |k| map.get(k).cloned()).load()
    }

    #[test]
    fn defaults() {
        let config = load(&[("EXSVC_JWT_SECRET", SECRET)]).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.pool_size, 16);
        assert_eq!(config.db_timeout, Duration::from_millis(3000));
        assert_eq!(config.claim_rules.leeway_secs, 60);
        assert_eq!(config.claim_rules.tenant_claim, "tenant_id");
        assert!(!config.allow_http_base_url);
        assert_eq!(config.base_path, "");
        assert_eq!(config.database_url, DEFAULT_DATABASE_URL);
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
            ("EXSVC_DATABASE_URL", "not a url"),
            ("EXSVC_ALLOW_HTTP_BASE_URL", "maybe"),
            ("EXSVC_BASE_PATH", "exsvc"),
            ("EXSVC_BASE_PATH", "/a b"),
            ("EXSVC_LOG_FORMAT", "xml"),
        ];
        for (variable, value) in cases {
            let mut vars = vec![("EXSVC_JWT_SECRET", SECRET)];
            vars.retain(|(k, _)| *k != variable);
            vars.push((variable, value));
            let err = load(&vars).unwrap_err();
            assert_eq!(err.variable, variable, "{variable}={value}: {err}");
        }
        assert_eq!(load(&[]).unwrap_err().variable, "EXSVC_JWT_SECRET");
    }

    #[test]
    fn values_are_read() {
        let config = load(&[
            ("EXSVC_JWT_SECRET", SECRET),
            ("EXSVC_LISTEN", "0.0.0.0:9000"),
            ("EXSVC_BASE_PATH", "/exsvc/"),
            ("EXSVC_ALLOW_HTTP_BASE_URL", "true"),
            ("EXSVC_JWT_TENANT_CLAIM", "org"),
        ])
        .unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.base_path, "/exsvc");
        assert!(config.allow_http_base_url);
        assert_eq!(config.claim_rules.tenant_claim, "org");
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let config = load(&[("EXSVC_JWT_SECRET", SECRET)]).unwrap();
        assert!(!format!("{config:?}").contains(SECRET));
    }
}
