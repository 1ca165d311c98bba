//! The env values of a command run on this machine (`starweave run`, `test`, `dev`,
//! `connections`): each declared variable's default, then this machine's `.env.local`
//! (`starweave_model::vms::local_env`), then the shell's environment. Only declared
//! variables get values, as in a deployment.

use std::collections::BTreeMap;

use anyhow::Result;
use starweave_model::vms::env::EnvVar;
use starweave_model::vms::local_env::{LocalEnv, LocalEnvError, local_run_env};

/// The values for `declared`, given the bytes of `.env.local` when the VMS has one. A file
/// that does not parse is an error naming its line and column.
pub fn machine_env(
    declared: &[EnvVar],
    local_file: Option<&[u8]>,
) -> Result<BTreeMap<String, String>> {
    let local = local_file.map(LocalEnv::from_bytes).transpose();
    with_shell(declared, local)
}

/// [`machine_env`] for a VMS read from disk (its `.env.local` is among its other files).
pub fn vms_env(vms: &starweave_model::vms::Vms) -> Result<BTreeMap<String, String>> {
    with_shell(
        &vms.env,
        LocalEnv::of_vms_files(&vms.other_files).transpose(),
    )
}

fn with_shell(
    declared: &[EnvVar],
    local: Result<Option<LocalEnv>, LocalEnvError>,
) -> Result<BTreeMap<String, String>> {
    let local = local.map_err(|e| {
        anyhow::anyhow!("{e} (this machine's env values; fix the file or delete it)")
    })?;
    let shell = declared
        .iter()
        .filter_map(|var| Some((var.name.clone(), std::env::var(&var.name).ok()?)));
    Ok(local_run_env(declared, local.as_ref(), shell))
}
