//! Triggers other than HTTP routes (those are served by [`crate::server::data`]): the loops
//! that call a deployment's functions on a schedule or for messages. They run for the active
//! version of each VMS only, and stop when it is replaced or unloaded.

use std::sync::Arc;

use starweave_model::vms::Trigger;

use crate::server::registry::Deployment;

/// Starts the cron and MQ triggers of a deployment that just became active.
pub fn start_triggers(deployment: &Arc<Deployment>) {
    for trigger in &deployment.model.triggers {
        match trigger {
            Trigger::Http(_) => {}
            other => tracing::warn!(
                vms = deployment.vms,
                version = deployment.version,
                function = other.function(),
                trigger = other.kind().as_str(),
                "this engine does not run this kind of trigger yet"
            ),
        }
    }
}
