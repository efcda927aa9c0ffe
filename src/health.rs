//! `usher health TARGET`: one probe for HEALTHCHECK and exec probes; exit 0 healthy, 1 not.

use crate::config::{Config, HealthSettings};
use crate::signals::Startup;

pub fn run(_settings: &HealthSettings, _config: &Config, _startup: &Startup) -> i32 {
    1
}
