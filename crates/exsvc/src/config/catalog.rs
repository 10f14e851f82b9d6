//! Rules of the service catalog: which base URLs a service may have.

use super::core::{flag, settings, Settings};
use super::ConfigError;

settings! {
    /// Whether a service's base URL may be plain `http://`.
    ALLOW_HTTP_BASE_URL = "false";
}

#[derive(Debug)]
pub struct Catalog {
    pub allow_http_base_url: bool,
}

pub(super) fn read(settings: &Settings) -> Result<Catalog, ConfigError> {
    Ok(Catalog {
        allow_http_base_url: settings.read(ALLOW_HTTP_BASE_URL, flag)?,
    })
}
