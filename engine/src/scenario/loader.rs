//! XML → `Scenario` (stub until the loader lands).

use super::{LoadOptions, Scenario, ScenarioErrors};

pub(crate) fn load(_bytes: &[u8], _file_name: &str, _opts: &LoadOptions<'_>) -> Result<Scenario, ScenarioErrors> {
    Err(ScenarioErrors(Vec::new()))
}
