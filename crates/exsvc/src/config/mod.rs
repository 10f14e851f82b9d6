//! The typed configuration: a TOML file (`exsvc --config FILE`) layered under
//! the `EXSVC_*` environment (figment does the layering), read once at start and
//! validated. Every bad value is one clear line and exit code 2.
//!
//! One module per concern declares its settings with `settings!` (each name
//! once, with its default and doc line) and reads them into its section of
//! `Config`; `core` holds what they share. Adding a setting is a line in its
//! concern's `settings!` and a field read in the same file (and a row in
//! docs/configuration.md, which a test checks).

use std::collections::BTreeMap;
use std::path::Path;

use exsvc_crypto::Keyring;

pub mod auth;
pub mod catalog;
mod core;
pub mod credentials;
pub mod deployment;
pub mod egress;
pub mod http;
pub mod log;
pub mod rate_limit;
pub mod store;

pub use self::core::{process_env, ConfigError, Declared, Settings};
pub use auth::Auth;
pub use catalog::Catalog;
pub use credentials::Credentials;
pub use deployment::{Deployment, Environment};
pub use egress::Egress;
pub use http::Http;
pub use log::{Log, LogFormat};
pub use rate_limit::RateLimit;
pub use store::{Database, Store, DEFAULT_DATABASE_URL};

/// Every setting, concern by concern: the names a file or the environment may
/// set. A concern's module is listed here when it is added.
pub const SETTINGS: &[&[Declared]] = &[
    deployment::DECLARED,
    http::DECLARED,
    store::DECLARED,
    auth::DECLARED,
    credentials::DECLARED,
    catalog::DECLARED,
    rate_limit::DECLARED,
    egress::DECLARED,
    log::DECLARED,
];

fn known(variable: &str) -> bool {
    SETTINGS
        .iter()
        .copied()
        .flatten()
        .any(|s| s.name == variable)
}

/// The `EXSVC_*` variables of `env` that are no setting, each with the setting
/// it most likely means: a misspelt name would otherwise leave its setting at
/// the default without a word. `EXSVC_TEST_*` are the test suite's own, and
/// the client's variables (`EXSVC_ADDR`, `EXSVC_TOKEN`) are no server setting.
pub fn unrecognized(env: &[(String, String)]) -> Vec<(String, Option<&'static str>)> {
    env.iter()
        .map(|(name, _)| name)
        .filter(|name| {
            !known(name)
                && !name.starts_with("EXSVC_TEST_")
                && !crate::cli::CLIENT_VARIABLES.contains(&name.as_str())
        })
        .map(|name| {
            let closest = SETTINGS
                .iter()
                .copied()
                .flatten()
                .map(|s| (strsim::damerau_levenshtein(name, s.name), s.name))
                .filter(|(distance, _)| *distance <= 3)
                .min();
            (name.clone(), closest.map(|(_, setting)| setting))
        })
        .collect()
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
    self::core::layered_with(known, file, env)
}

/// Everything `exsvc serve` and `exsvc token` run with, one section per concern.
#[derive(Debug)]
pub struct Config {
    pub deployment: Deployment,
    pub http: Http,
    pub store: Store,
    pub auth: Auth,
    pub credentials: Credentials,
    pub catalog: Catalog,
    pub rate_limit: RateLimit,
    pub egress: Egress,
    pub log: Log,
}

impl Settings {
    /// Every section, validated. Every problem is reported at once: a bad
    /// value does not stop the reading of the others.
    ///
    /// # Errors
    /// Every setting that is malformed, out of range or missing in production,
    /// in the order read.
    pub fn load(&self) -> Result<Config, ConfigError> {
        self.gather(|settings| {
            // The environment first: the other sections' rules depend on it
            // (a refused EXSVC_ENV reads as development, whose rules are laxer:
            // nothing is refused for a production that may not be meant).
            let deployment = deployment::read(settings)?;
            let environment = deployment.environment;
            Ok(Config {
                http: http::read(settings)?,
                store: store::read(settings)?,
                auth: auth::read(settings, environment)?,
                credentials: credentials::read(settings, environment)?,
                catalog: catalog::read(settings)?,
                rate_limit: rate_limit::read(settings)?,
                egress: egress::read(settings)?,
                log: log::read(settings)?,
                deployment,
            })
        })
    }

    /// The database alone (`exsvc migrate`, `exsvc keys rewrap`).
    ///
    /// # Errors
    /// A malformed `EXSVC_DATABASE_URL`.
    pub fn database(&self) -> Result<Database, ConfigError> {
        self.gather(store::database)
    }

    /// The master keyring alone (`exsvc keys rewrap`); `None` when none is set.
    ///
    /// # Errors
    /// A malformed or unreadable keyring, or both of its settings set.
    pub fn keyring(&self) -> Result<Option<Keyring>, ConfigError> {
        self.gather(credentials::keyring)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::PathBuf;
    use std::time::Duration;

    use exsvc_auth::Algorithm;

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
    fn a_variable_that_is_no_setting_is_named_with_the_setting_it_likely_means() {
        let found = unrecognized(&env(&[
            ("EXSVC_DB_POOL_SIZ", "4"),
            ("EXSVC_LISTEN", "127.0.0.1:1"),
            ("EXSVC_TEST_BACKEND", "sqlite"),
            ("EXSVC_SOMETHING_ELSE_ENTIRELY", "1"),
        ]));
        assert_eq!(
            found,
            [
                ("EXSVC_DB_POOL_SIZ".to_owned(), Some("EXSVC_DB_POOL_SIZE")),
                ("EXSVC_SOMETHING_ELSE_ENTIRELY".to_owned(), None),
            ]
        );
    }

    #[test]
    fn defaults_are_the_embedded_development_setup() {
        let config = load(&[]).unwrap();
        assert_eq!(config.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(
            config.store.database,
            Database::Sqlite(PathBuf::from("data/exsvc.db"))
        );
        assert_eq!(config.deployment.environment, Environment::Development);
        assert!(config.auth.jwt_secret.is_none());
        assert_eq!(config.deployment.data_dir, PathBuf::from("data"));
        assert_eq!(config.store.pool_size, 16);
        assert_eq!(config.store.timeout, Duration::from_millis(3000));
        assert_eq!(config.auth.claim_rules.leeway_secs, 60);
        assert_eq!(
            config.auth.claim_rules.tenant_claims,
            ["tenant_id", "workspace_id"]
        );
        assert_eq!(config.auth.claim_rules.max_ttl_secs, 2_678_400);
        assert!(config.auth.hmac_secrets.is_empty());
        assert!(config.auth.issuers.is_empty() && config.auth.audiences.is_empty());
        assert!(!config.catalog.allow_http_base_url);
        assert_eq!(config.http.base_path, "");
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
            ("EXSVC_JWT_SECRETS", "default:short"),
            ("EXSVC_JWT_SECRETS", "no-colon-here-at-all-and-long-enough-for-a-secret"),
            ("EXSVC_JWT_SECRETS", "a:0123456789abcdef0123456789abcdef,a:0123456789abcdef0123456789abcdef"),
            ("EXSVC_JWT_SECRETS_FILE", "/nonexistent/secrets"),
            ("EXSVC_JWT_MAX_TTL_SECS", "0"),
            ("EXSVC_JWT_MAX_TTL_SECS", "forever"),
            ("EXSVC_JWT_TENANT_CLAIM", " , "),
            ("EXSVC_JWT_ISSUER", ","),
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
            ("EXSVC_EGRESS_ALLOW_CIDRS", "10.0.0.0/40"),
            ("EXSVC_EGRESS_CA_FILE", "/nonexistent/ca.pem"),
            ("EXSVC_PROXY_MAX_BODY_BYTES", "0"),
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
        assert_eq!(config.auth.public_keys.len(), 1);
        assert_eq!(config.credentials.keyring.unwrap().primary_id(), "k1");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let error = load(&[("EXSVC_ENV", "production")]).unwrap_err();
        let text = error.to_string();
        assert_eq!(error.variable, "EXSVC_JWT_SECRET", "the first read");
        assert_eq!(
            text,
            "EXSVC_JWT_SECRET (or EXSVC_JWT_SECRETS, EXSVC_JWT_SECRETS_FILE, \
             EXSVC_JWT_PUBLIC_KEY_FILES or EXSVC_JWKS_URL) is required when EXSVC_ENV=production; \
             EXSVC_MASTER_KEYS (or EXSVC_MASTER_KEY_FILE) is required when EXSVC_ENV=production"
        );

        // Several concerns, and several settings of one, in the order read.
        let error = load(&[
            ("EXSVC_LOG_FORMAT", "xml"),
            ("EXSVC_DB_POOL_SIZE", "0"),
            ("EXSVC_JWT_ISSUER", ","),
            ("EXSVC_JWT_LEEWAY_SECS", "soon"),
        ])
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "EXSVC_DB_POOL_SIZE: must be from 1 to 1000; \
             EXSVC_JWT_LEEWAY_SECS: 'soon' is not a number of seconds; \
             EXSVC_JWT_ISSUER: names no issuer; \
             EXSVC_LOG_FORMAT: 'xml' is not json or text"
        );
        assert_eq!(error.variable, "EXSVC_DB_POOL_SIZE");

        // A setting that was refused is not also reported missing, nor are the
        // checks that need it run on what stood in for it.
        let refused_source = [
            ("EXSVC_JWT_SECRET", "short"),
            ("EXSVC_JWKS_URL", "ftp://keys"),
            ("EXSVC_JWT_PUBLIC_KEY_FILES", "/nonexistent.pem"),
            ("EXSVC_JWT_SECRETS_FILE", "/nonexistent/secrets"),
        ];
        for (variable, value) in refused_source {
            let text = load(&[
                ("EXSVC_ENV", "production"),
                ("EXSVC_MASTER_KEYS", KEYS),
                ("EXSVC_JWT_ALGORITHMS", "RS256"),
                (variable, value),
            ])
            .unwrap_err()
            .to_string();
            assert!(text.starts_with(&format!("{variable}: ")), "{text}");
            assert!(!text.contains(';'), "one problem only: {text}");
        }
        let text = load(&[
            ("EXSVC_ENV", "production"),
            ("EXSVC_JWT_SECRET", SECRET),
            ("EXSVC_MASTER_KEY_FILE", "/nonexistent/keys"),
        ])
        .unwrap_err()
        .to_string();
        assert!(text.starts_with("EXSVC_MASTER_KEY_FILE: "), "{text}");
        assert!(!text.contains("is required"), "{text}");
    }

    #[test]
    fn named_secrets_are_a_key_source() {
        let secrets =
            "default:0123456789abcdef0123456789abcdef,sdk-agent:fedcba9876543210fedcba9876543210";
        let config = load(&[
            ("EXSVC_ENV", "production"),
            ("EXSVC_MASTER_KEYS", KEYS),
            ("EXSVC_JWT_SECRETS", secrets),
            ("EXSVC_JWT_ALGORITHMS", "HS256"),
        ])
        .unwrap();
        assert_eq!(
            config.auth.hmac_secrets.kids().collect::<Vec<_>>(),
            ["default", "sdk-agent"]
        );
        assert!(!config.auth.development_keys());
        assert!(config.auth.jwt_secret.is_none());
        let shown = format!("{config:?}");
        assert!(!shown.contains("0123456789abcdef") && !shown.contains("fedcba98"));

        let mut file = tempfile();
        writeln!(
            file.1,
            "# the Auth Manager's kids\n\ndefault:0123456789abcdef0123456789abcdef\nsdk-agent:with,comma,0123456789abcdef0123456789"
        )
        .unwrap();
        let path = file.0.to_string_lossy().into_owned();
        let config = load(&[("EXSVC_JWT_SECRETS_FILE", path.as_str())]).unwrap();
        assert_eq!(config.auth.hmac_secrets.len(), 2);
        assert!(!config.auth.development_keys());
        let both = load(&[
            ("EXSVC_JWT_SECRETS_FILE", path.as_str()),
            ("EXSVC_JWT_SECRETS", secrets),
        ]);
        assert_eq!(both.unwrap_err().variable, "EXSVC_JWT_SECRETS_FILE");

        let mut bad = tempfile();
        writeln!(
            bad.1,
            "default:0123456789abcdef0123456789abcdef\ndefault:fedcba9876543210fedcba9876543210"
        )
        .unwrap();
        let bad_path = bad.0.to_string_lossy().into_owned();
        let error = load(&[("EXSVC_JWT_SECRETS_FILE", bad_path.as_str())]).unwrap_err();
        assert!(error.reason.contains("names a kid named before"), "{error}");
        assert!(!error.to_string().contains("0123456789abcdef"), "{error}");
    }

    #[test]
    fn issuers_audiences_and_tenant_claims_are_lists() {
        let config = load(&[
            (
                "EXSVC_JWT_ISSUER",
                "authsec-ai/auth-manager, authsec-ai/user-flow",
            ),
            ("EXSVC_JWT_AUDIENCE", "exsvc"),
            ("EXSVC_JWT_TENANT_CLAIM", "workspace_id,tenant_id"),
            ("EXSVC_JWT_MAX_TTL_SECS", "3600"),
        ])
        .unwrap();
        assert_eq!(
            config.auth.issuers,
            ["authsec-ai/auth-manager", "authsec-ai/user-flow"]
        );
        assert_eq!(config.auth.audiences, ["exsvc"]);
        assert_eq!(
            config.auth.claim_rules.tenant_claims,
            ["workspace_id", "tenant_id"]
        );
        assert_eq!(config.auth.claim_rules.max_ttl_secs, 3600);
    }

    #[test]
    fn debug_endpoints_are_off_in_production_unless_asked_for() {
        let mut vars = vec![
            ("EXSVC_ENV", "production"),
            ("EXSVC_JWT_SECRET", SECRET),
            ("EXSVC_MASTER_KEYS", KEYS),
        ];
        assert!(!load(&vars).unwrap().deployment.debug_endpoints);
        vars.push(("EXSVC_DEBUG_ENDPOINTS", "true"));
        assert!(load(&vars).unwrap().deployment.debug_endpoints);
    }

    #[test]
    fn an_empty_variable_does_not_blank_out_the_file() {
        let mut file = tempfile();
        writeln!(file.1, "jwt_secret = \"{SECRET}\"").unwrap();
        let values = layered(Some(&file.0), env(&[("EXSVC_JWT_SECRET", "")])).unwrap();
        assert!(Settings::new(values)
            .load()
            .unwrap()
            .auth
            .jwt_secret
            .is_some());
    }

    #[test]
    fn algorithms_and_debug_flag_parse() {
        let config = load(&[
            ("EXSVC_JWT_ALGORITHMS", "RS256, ES256,EdDSA"),
            ("EXSVC_JWKS_URL", "https://a.example/jwks"),
        ])
        .unwrap();
        assert_eq!(
            config.auth.algorithms,
            Some(vec![Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA])
        );
        assert!(
            !load(&[("EXSVC_DEBUG_ENDPOINTS", "false")])
                .unwrap()
                .deployment
                .debug_endpoints
        );
        assert!(load(&[]).unwrap().deployment.debug_endpoints);
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
        assert_eq!(config.http.listen.port(), 9000);
        assert_eq!(config.http.base_path, "/exsvc");
        assert!(config.catalog.allow_http_base_url);
        assert_eq!(config.auth.claim_rules.tenant_claims, ["org"]);
        assert_eq!(
            config.store.database,
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
        assert_eq!(config.http.listen.port(), 7001, "the environment wins");
        assert_eq!(config.store.pool_size, 4, "the file fills in");
        assert!(config.catalog.allow_http_base_url);
        assert_eq!(config.log.filter, "debug");
        assert!(config.auth.jwt_secret.is_some());
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

    /// The names are the interface: tests spell them out (above) so that a
    /// renamed constant, which renames its variable, fails here; docs list them.
    #[test]
    fn every_setting_is_documented_with_its_default() {
        let docs = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/configuration.md"
        ));
        let rows: BTreeMap<&str, &str> = docs
            .lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix("| `")?.splitn(3, '|');
                let name = cells.next()?.trim().strip_suffix('`')?;
                Some((name, cells.next()?))
            })
            .filter(|(name, _)| name.starts_with("EXSVC_"))
            .collect();
        let declared: Vec<&Declared> = SETTINGS.iter().copied().flatten().collect();
        for setting in &declared {
            let Some(default_cell) = rows.get(setting.name) else {
                panic!("{} is not in docs/configuration.md", setting.name);
            };
            if let Some(default) = setting.default {
                assert!(
                    default_cell.contains(&format!("`{default}`")),
                    "docs/configuration.md gives {} another default than `{default}`",
                    setting.name
                );
            }
        }
        for name in rows.keys() {
            assert!(
                declared.iter().any(|s| s.name == *name),
                "docs/configuration.md documents {name}, which is not a setting"
            );
        }
    }

    #[test]
    fn each_name_is_declared_once() {
        let mut names: Vec<&str> = SETTINGS.iter().copied().flatten().map(|s| s.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "a setting is declared by two concerns");
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
