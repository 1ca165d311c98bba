//! Triggers other than HTTP routes (those are served by [`crate::server::data`]): the loops
//! that call a deployment's functions on a schedule or for messages, and the gRPC methods.
//! Cron and MQ triggers run for the active version of each VMS only, and stop when it is
//! replaced or unloaded; gRPC methods are routed like HTTP routes, through the routing table.
//!
//! | kind | status |
//! |---|---|
//! | http | [`crate::server::data`]: routes, input validation, error statuses |
//! | cron | [`cron`]: time zones, overlap control, missed-run policy |
//! | mq (NATS JetStream) | [`mq`]: durable pull consumer, ack after success, nak with backoff, dead-letter subject, bounded concurrency |
//! | mq (AMQP 0-9-1, RabbitMQ) | [`amqp`]: queue consumer with prefetch, ack after success, retries through a delay queue, dead-letter queue, bounded concurrency |
//! | mq (Redis Streams) | [`redis_streams`]: consumer group, ack after success, pending entries claimed again after a growing wait, dead-letter stream, bounded concurrency |
//! | grpc | [`grpc`]: unary methods from a descriptor set on the gRPC port (`--grpc-listen`), routed through the routing table, errors as status codes |

pub mod amqp;
pub mod cron;
pub mod grpc;
pub mod mq;
pub mod redis_streams;

use std::sync::Arc;

use starweave_model::vms::Trigger;

use crate::server::registry::Deployment;

/// Starts the cron and MQ triggers of a deployment that just became active; its cron
/// triggers take their state from `cron_slots`, shared with the VMS's other versions.
pub fn start_triggers(deployment: &Arc<Deployment>, cron_slots: &cron::CronSlots) {
    let mut cron_ranks: std::collections::HashMap<&str, usize> = Default::default();
    for trigger in &deployment.model.triggers {
        match trigger {
            // gRPC methods are routed through the routing table, like HTTP routes.
            Trigger::Http(_) | Trigger::Grpc(_) => {}
            Trigger::Cron(cron) => {
                let rank = cron_ranks.entry(cron.function.as_str()).or_default();
                let slot = cron_slots.slot(&deployment.vms, &cron.function, *rank);
                *rank += 1;
                if let Err(error) = cron::start(deployment, cron, slot) {
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
            Trigger::Mq(mq) => {
                if let Err(error) = mq::start(deployment, mq) {
                    tracing::error!(
                        vms = deployment.vms,
                        version = deployment.version,
                        function = mq.function,
                        trigger = "mq",
                        error,
                        "the subscription does not start"
                    );
                }
            }
        }
    }
}
