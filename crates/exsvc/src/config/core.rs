//! What every concern shares: the `Setting` a concern declares, the reader that
//! is handed only such settings, the figment layering of file and environment,
//! the error type and the value parsers.

use std::cell::RefCell;
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

    /// The error "this setting, or one of `instead`, must be set": `reason`
    /// follows the names, as in "EXSVC_MASTER_KEYS (or EXSVC_MASTER_KEY_FILE)
    /// is required when EXSVC_ENV=production".
    pub fn missing(&self, instead: &[&str], reason: impl Into<String>) -> ConfigError {
        ConfigError {
            instead: Some(instead.iter().map(|name| (*name).to_owned()).collect()),
            ..invalid(self.name, reason)
        }
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

/// A bad setting: the variable and what is wrong with it; and when a reading
/// found more than one, the others after it, in the order they were read.
/// Shown on one line: `EXSVC_A: reason; EXSVC_B (or EXSVC_C) is required …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The setting at fault (of several, the first read).
    pub variable: String,
    /// What is wrong with it, worded to follow its name.
    pub reason: String,
    /// A setting that is missing, not wrong: the settings that would do
    /// instead of it. It is then named without a colon: "EXSVC_X (or EXSVC_Y)
    /// is required".
    instead: Option<Vec<String>>,
    /// The other problems of the same reading.
    others: Vec<ConfigError>,
}

impl ConfigError {
    /// This problem and the others found with it, in the order read.
    pub fn problems(&self) -> impl Iterator<Item = &ConfigError> {
        std::iter::once(self).chain(&self.others)
    }

    /// This error, then `later`'s problems that it does not hold yet.
    fn followed_by(mut self, mut later: ConfigError) -> ConfigError {
        let later_others = std::mem::take(&mut later.others);
        for problem in std::iter::once(later).chain(later_others) {
            if !self.problems().any(|held| held.names_the_same(&problem)) {
                self.others.push(problem);
            }
        }
        self
    }

    /// The same problem, whatever else was found with either.
    fn names_the_same(&self, other: &ConfigError) -> bool {
        (&self.variable, &self.reason, &self.instead)
            == (&other.variable, &other.reason, &other.instead)
    }

    fn fmt_one(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ConfigError {
            variable, reason, ..
        } = self;
        match self.instead.as_deref() {
            None => write!(f, "{variable}: {reason}"),
            Some([]) => write!(f, "{variable} {reason}"),
            Some([alone]) => write!(f, "{variable} (or {alone}) {reason}"),
            Some([rest @ .., last]) => {
                write!(f, "{variable} (or {} or {last}) {reason}", rest.join(", "))
            }
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (n, problem) in self.problems().enumerate() {
            if n > 0 {
                f.write_str("; ")?;
            }
            problem.fmt_one(f)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

fn invalid(variable: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        variable: variable.to_owned(),
        reason: reason.into(),
        instead: None,
        others: Vec::new(),
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
///
/// A reading (`gather`) goes on past a bad value, so that a start reports every
/// problem at once: `read` notes the problem and hands out what the setting
/// would be without it (its default, or none), and a check across settings
/// notes its refusal (`refuse`) rather than returning it. A check that needs
/// settings that were refused does not run on what stands in for them
/// (`refused`): a key source that was refused is not also "missing".
pub struct Settings {
    values: BTreeMap<String, String>,
    /// The problems the reading under way has met so far.
    problems: RefCell<Vec<ConfigError>>,
}

impl Settings {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Self {
            values,
            problems: RefCell::default(),
        }
    }

    /// Runs `read` as one reading: its result, or every problem it met.
    pub(super) fn gather<T>(
        &self,
        read: impl FnOnce(&Self) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        self.problems.borrow_mut().clear();
        let outcome = read(self);
        let noted = self
            .problems
            .take()
            .into_iter()
            .reduce(ConfigError::followed_by);
        match (noted, outcome) {
            (None, outcome) => outcome,
            (Some(noted), Ok(_)) => Err(noted),
            (Some(noted), Err(last)) => Err(noted.followed_by(last)),
        }
    }

    /// Notes a problem and lets the reading go on.
    pub(super) fn refuse(&self, problem: ConfigError) {
        self.problems.borrow_mut().push(problem);
    }

    /// Whether the reading under way has refused any of `names`.
    pub(super) fn refused(&self, names: &[&str]) -> bool {
        self.problems
            .borrow()
            .iter()
            .any(|problem| names.contains(&problem.variable.as_str()))
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

    /// The setting's value (or default) through `parse`. A setting without a
    /// default reads as an `Option`. A refused value is noted (naming the
    /// setting) and the default, or none, stands in for it so that the reading
    /// goes on; it is an error here only when the default itself is refused
    /// (a bug: the defaults are tested).
    pub(super) fn read<D: Presence, T>(
        &self,
        setting: Setting<D>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<D::Value<T>, ConfigError> {
        match setting.default.resolve(self.raw(setting.name), &parse) {
            Ok(value) => Ok(value),
            Err(reason) => {
                let problem = setting.invalid(reason);
                let stand_in = setting.default.resolve(None, &parse);
                match stand_in {
                    Ok(value) => {
                        self.refuse(problem);
                        Ok(value)
                    }
                    Err(_) => Err(problem),
                }
            }
        }
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
