//! What the log keeps and how its lines look.

use super::core::{one_of, settings, text, Settings};
use super::ConfigError;

settings! {
    /// A tracing `EnvFilter` directive, e.g. `info,exsvc_app=debug`.
    LOG = "info";
    /// `json` or `text`; unset: json unless stdout is a terminal (decided at start).
    LOG_FORMAT;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug)]
pub struct Log {
    pub filter: String,
    pub format: Option<LogFormat>,
}

pub(super) fn read(settings: &Settings) -> Result<Log, ConfigError> {
    Ok(Log {
        filter: settings.read(LOG, text)?,
        format: settings.read(
            LOG_FORMAT,
            one_of(
                &[("json", LogFormat::Json), ("text", LogFormat::Text)],
                "json or text",
            ),
        )?,
    })
}
