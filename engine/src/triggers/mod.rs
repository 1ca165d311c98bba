//! Triggers other than HTTP routes (those are served by [`crate::server::data`]): the loops
//! that call a deployment's functions on a schedule or for messages. They run for the active
//! version of each VMS only, and stop when it is replaced or unloaded.
//!
//! | kind | status |
//! |---|---|
//! | cron | [`cron`]: time zones, overlap control, missed-run policy |
//! | mq | not run by this engine yet: the deployment loads and a warning is logged |
//! | grpc | not run by this engine yet: the deployment loads and a warning is logged |

pub mod cron;

use std::sync::Arc;

use starweave_model::vms::Trigger;

use crate::server::registry::Deployment;

/// Starts the cron (and, later, MQ) triggers of a deployment that just became active.
pub fn start_triggers(deployment: &Arc<Deployment>) {
    for trigger in &deployment.model.triggers {
        match trigger {
            Trigger::Http(_) => {}
            Trigger::Cron(cron) => {
                if let Err(error) = cron::start(deployment, cron) {
                    tracing::error!(
                        vms = deployment.vms,
                        version = deployment.version,
                        function = cron.function,
                        trigger = "cron",
                        error,
                        "the schedule does not start"
                    );
                }
            }
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
