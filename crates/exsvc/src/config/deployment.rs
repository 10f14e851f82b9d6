//! Development or production, and what follows from it: where development keys
//! live and whether the diagnostics endpoints are served.

use std::path::PathBuf;

use super::core::{flag, one_of, settings, text, Settings};
use super::ConfigError;

settings! {
    /// `development` or `production`; production refuses to start without real keys.
    ENV = "development";
    /// The folder of the development keys, relative to the working directory.
    DATA_DIR = "data";
    /// Whether `/debug/auth` is served; by default only outside production.
    DEBUG_ENDPOINTS;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug)]
pub struct Deployment {
    pub environment: Environment,
    pub data_dir: PathBuf,
    pub debug_endpoints: bool,
}

impl Deployment {
    pub fn production(&self) -> bool {
        self.environment == Environment::Production
    }
}

pub(super) fn read(settings: &Settings) -> Result<Deployment, ConfigError> {
    let environment = settings.read(
        ENV,
        one_of(
            &[
                ("development", Environment::Development),
                ("production", Environment::Production),
            ],
            "development or production",
        ),
    )?;
    Ok(Deployment {
        environment,
        data_dir: PathBuf::from(settings.read(DATA_DIR, text)?),
        // A diagnostics endpoint is for development: production opts in.
        debug_endpoints: settings
            .read(DEBUG_ENDPOINTS, flag)?
            .unwrap_or(environment != Environment::Production),
    })
}
