//! `starweave connections <dir>`: tests the connections of a VMS's connectors from this
//! machine, the way the IDE's "Test connection" does (`LiveConnectors::check`: one harmless
//! command per connector), all at once, and exits 1 when any fails. For checking, before a
//! deployment or in a pipeline, that the databases, brokers and APIs a VMS needs are
//! reachable with its settings.
//!
//! Env values: each variable the VMS declares, from this process's environment, else this
//! machine's `.env.local`, else its declared default (`crate::env`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Result, bail};
use serde_json::{Value, json};
use starweave_engine::io::{LiveConnectors, LiveOptions};
use starweave_model::vms;

use crate::files::{self, Target};

/// The arguments of `starweave connections`.
#[derive(Debug)]
pub struct ConnectionsArgs {
    /// The VMS directory.
    pub dir: PathBuf,
    /// Only these connectors (all when empty).
    pub only: Vec<String>,
    /// One JSON array on standard output instead of lines.
    pub json: bool,
}

/// One connector's outcome.
struct Outcome {
    connector: String,
    result:
        Result<starweave_engine::io::ConnectionCheck, starweave_engine::connectors::ConnectorError>,
    duration_ms: f64,
}

/// `starweave connections`.
pub fn cmd_connections(args: ConnectionsArgs) -> Result<ExitCode> {
    let root = match files::classify(&args.dir)? {
        Target::Vms(root) => root,
        _ => bail!("{} is not a VMS directory", args.dir.display()),
    };
    let document = vms::read_vms(&files::read_vms_dir(&root)?);
    let model = document.vms;
    if let Some(unknown) = args
        .only
        .iter()
        .find(|n| !model.connectors.contains_key(*n))
    {
        let known: Vec<&str> = model.connectors.keys().map(String::as_str).collect();
        bail!(
            "{} has no connector `{unknown}` (it has: {})",
            root.display(),
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        );
    }
    let chosen: BTreeMap<_, _> = model
        .connectors
        .iter()
        .filter(|(name, _)| args.only.is_empty() || args.only.contains(name))
        .map(|(name, c)| (name.clone(), c.clone()))
        .collect();
    let (live, _) = LiveConnectors::new(
        &chosen,
        crate::env::vms_env(&model)?,
        LiveOptions {
            files: model.other_files.clone(),
            ..LiveOptions::default()
        },
    );
    let outcomes = crate::run::runtime()?.block_on(check_all(&live, chosen.keys()));
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    let mut out = std::io::stdout().lock();
    if args.json {
        let answer: Vec<Value> = outcomes.iter().map(outcome_json).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        print_lines(&mut out, &root, &outcomes, failed)?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Tests every connector at once (each within its own timeout); outcomes in name order.
async fn check_all(live: &LiveConnectors, names: impl Iterator<Item = &String>) -> Vec<Outcome> {
    let mut tasks = tokio::task::JoinSet::new();
    let names: Vec<String> = names.cloned().collect();
    for (index, name) in names.iter().enumerate() {
        let live = live.clone();
        let name = name.clone();
        tasks.spawn(async move {
            let started = Instant::now();
            let result = live.check(&name).await;
            let outcome = Outcome {
                connector: name,
                result,
                duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            };
            (index, outcome)
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = names.iter().map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((index, outcome)) => outcomes[index] = Some(outcome),
            // A check that panicked is a bug; say so rather than drop the connector.
            Err(e) => eprintln!("starweave: a connection test stopped: {e}"),
        }
    }
    // A check that stopped is a failed one, under its connector's name (and in the count).
    outcomes
        .into_iter()
        .zip(names)
        .map(|(outcome, connector)| {
            outcome.unwrap_or_else(|| Outcome {
                connector,
                result: Err(starweave_engine::connectors::ConnectorError {
                    code: Some("CHECK_STOPPED".to_owned()),
                    message: "the test stopped before it answered (a bug: see the line above)"
                        .to_owned(),
                }),
                duration_ms: 0.0,
            })
        })
        .collect()
}

fn outcome_json(outcome: &Outcome) -> Value {
    match &outcome.result {
        Ok(check) => json!({
            "connector": outcome.connector,
            "ok": true,
            "summary": check.summary,
            "notes": check.notes,
            "duration_ms": outcome.duration_ms,
        }),
        Err(error) => json!({
            "connector": outcome.connector,
            "ok": false,
            "error": { "code": error.code, "message": error.message },
            "duration_ms": outcome.duration_ms,
        }),
    }
}

fn print_lines(
    out: &mut impl Write,
    root: &Path,
    outcomes: &[Outcome],
    failed: usize,
) -> std::io::Result<()> {
    if outcomes.is_empty() {
        return writeln!(out, "{} has no connectors", root.display());
    }
    let width = outcomes
        .iter()
        .map(|o| o.connector.chars().count())
        .max()
        .unwrap_or(0);
    for outcome in outcomes {
        let ms = outcome.duration_ms.round();
        match &outcome.result {
            Ok(check) => {
                writeln!(
                    out,
                    "ok    {:width$}  {} ({ms} ms)",
                    outcome.connector, check.summary
                )?;
                for note in &check.notes {
                    writeln!(out, "      {:width$}  note: {note}", "")?;
                }
            }
            Err(error) => writeln!(
                out,
                "FAIL  {:width$}  {} ({ms} ms)",
                outcome.connector, error.message
            )?,
        }
    }
    writeln!(
        out,
        "{} connectors: {} ok, {failed} failed",
        outcomes.len(),
        outcomes.len() - failed
    )
}
