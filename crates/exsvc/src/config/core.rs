//! What every concern shares: the `Setting` a concern declares, the reader that
//! is handed only such settings, the figment layering of file and environment,
//! the error type and the value parsers.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::Path;

use figment::providers::{Format, Serialized, Toml};
use figment::value::Value;
use figment::Figment;

/// Declares a concern's settings, each once: `NAME` (read as `EXSVC_NAME`,
/// written `name` in a TOML file) or `NAME = "default"`, with its doc line.
/// It makes one `Setting` constant per line and the concern's `DECLARED` list,
/// so a setting that can be read is always a known name, and a reader cannot
/// ask for a name nobody declared (it takes a constant, not a string).
macro_rules! settings {
    ($($(#[$doc:meta])* $id:ident $(= $default:literal)?;)+) => {
        $(
            $(#[$doc])*
            pub const $id: $crate::config::core::Setting<settings!(@kind $($default)?)> =
                $crate::config::core::Setting::declare(
                    concat!("EXSVC_", stringify!($id)),
                    settings!(@default $($default)?),
                );
        )+
        /// This concern's settings, for the list of known names.
        pub(super) const DECLARED: &[$crate::config::core::Declared] = &[$($id.declared()),+];
    };
    (@kind) => { $crate::config::core::NoDefault };
    (@kind $default:literal) => { $crate::config::core::Fallback };
    (@default) => { $crate::config::core::NoDefault };
    (@default $default:literal) => { $crate::config::core::Fallback($default) };
}
pub(super) use settings;

/// A setting without a default: reading it gives an `Option`.
#[derive(Debug, Clone, Copy)]
pub struct NoDefault;

/// A setting's default, as the text a variable would hold: it goes through the
/// same parser as a configured value, so the two cannot disagree on meaning.
#[derive(Debug, Clone, Copy)]
pub struct Fallback(pub &'static str);

/// Whether a setting has a default decides what reading it gives.
pub trait Presence: Copy {
    type Value<T>;
    fn resolve<T>(
        self,
        set: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Self::Value<T>, String>;
}

impl Presence for NoDefault {
    type Value<T> = Option<T>;
    fn resolve<T>(
        self,
        set: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        set.map(parse).transpose()
    }
}

impl Presence for Fallback {
    type Value<T> = T;
    fn resolve<T>(
        self,
        set: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, String> {
        parse(set.unwrap_or(self.0))
    }
}

/// One declared setting (made only by `settings!`), by its environment name.
#[derive(Debug, Clone, Copy)]
pub struct Setting<D> {
    name: &'static str,
    default: D,
}

/// A declared setting without its type: what the list of known names holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declared {
    pub name: &'static str,
    pub default: Option<&'static str>,
}

impl<D> Setting<D> {
    pub(super) const fn declare(name: &'static str, default: D) -> Self {
        Self { name, default }
    }

    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The error "this setting is wrong because `reason`".
    pub fn invalid(&self, reason: impl Into<String>) -> ConfigError {
        invalid(self.name, reason)
    }
}

impl Setting<NoDefault> {
    pub const fn declared(&self) -> Declared {
        Declared {
            name: self.name,
            default: None,
        }
    }
}

impl Setting<Fallback> {
    pub const fn declared(&self) -> Declared {
        Declared {
            name: self.name,
            default: Some(self.default.0),
        }
    }

    pub const fn default_text(&self) -> &'static str {
        self.default.0
    }
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
/// `known` says which environment names are settings.
///
/// # Errors
/// A missing or malformed file, or a key in it that is not a setting.
pub(super) fn layered_with(
    known: impl Fn(&str) -> bool,
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
    // Other `EXSVC_*` variables are ignored (tests and tools set their own).
    let env: BTreeMap<String, String> = env
        .into_iter()
        .filter(|(k, v)| known(k) && !v.trim().is_empty())
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
            if !known(&variable) {
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

/// The layered values, read through declared settings only. Empty values count
/// as unset.
pub struct Settings {
    values: BTreeMap<String, String>,
}

impl Settings {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self { values }
    }

    fn raw(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    /// Whether the setting was given (its default is not in use).
    pub(super) fn is_set<D>(&self, setting: Setting<D>) -> bool {
        self.raw(setting.name).is_some()
    }

    /// The setting's value (or default) through `parse`; a refusal names the
    /// setting. A setting without a default reads as an `Option`.
    pub(super) fn read<D: Presence, T>(
        &self,
        setting: Setting<D>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<D::Value<T>, ConfigError> {
        setting
            .default
            .resolve(self.raw(setting.name), parse)
            .map_err(|reason| setting.invalid(reason))
    }
}

// The value parsers: text in, a value or the reason it is refused out.

/// The text as given.
#[allow(clippy::unnecessary_wraps)] // the shape every parser has
pub(super) fn text(raw: &str) -> Result<String, String> {
    Ok(raw.to_owned())
}

/// Anything `FromStr` reads, e.g. a socket address.
pub(super) fn parsed<T: std::str::FromStr>(what: &str) -> impl Fn(&str) -> Result<T, String> + '_ {
    move |raw| {
        raw.trim()
            .parse()
            .map_err(|_| format!("'{raw}' is not {what}"))
    }
}

/// A whole number within `range`, as the type the setting is used as.
pub(super) fn bounded<T: TryFrom<u64>>(
    range: RangeInclusive<u64>,
    what: &str,
) -> impl Fn(&str) -> Result<T, String> + '_ {
    move |raw| {
        let out_of_range = || format!("must be from {} to {}", range.start(), range.end());
        let value: u64 = parsed(what)(raw)?;
        if !range.contains(&value) {
            return Err(out_of_range());
        }
        T::try_from(value).map_err(|_| out_of_range())
    }
}

/// `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off`.
pub(super) fn flag(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        other => Err(format!("'{other}' is not true or false")),
    }
}

/// One of a few words (any case); `what` lists them for the message.
pub(super) fn one_of<'a, T: Copy>(
    choices: &'a [(&'a str, T)],
    what: &'a str,
) -> impl Fn(&str) -> Result<T, String> + 'a {
    move |raw| {
        let word = raw.trim().to_ascii_lowercase();
        choices
            .iter()
            .find(|(name, _)| *name == word)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("'{word}' is not {what}"))
    }
}

/// A comma-separated list, each non-empty entry through `item`.
pub(super) fn list<T>(
    item: impl Fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<Vec<T>, String> {
    move |raw| {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(&item)
            .collect()
    }
}

/// A URL of one of `schemes`, trimmed; else `refusal`. (An http(s) URL always
/// has a host: the url crate refuses an empty one.)
pub(super) fn url<'a>(
    schemes: &'a [&'a str],
    refusal: &'a str,
) -> impl Fn(&str) -> Result<String, String> + 'a {
    move |raw| match url::Url::parse(raw.trim()) {
        Ok(parsed) if schemes.contains(&parsed.scheme()) => Ok(raw.trim().to_owned()),
        _ => Err(refusal.to_owned()),
    }
}
