//! The workspace: a folder whose sub-folders are VMS, each its own Git repository, plus
//! `.starweave/` for the IDE's own state (the SQLite database).
//!
//! On first start with no VMS at all, the examples embedded in the binary are created, each
//! as a repository with one commit, so a new user has something to open.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;
use starweave_model::vms::{self, Template, VmsFiles};

use super::embedded;
use super::error::{ApiError, ApiResult};
use super::git;
use super::paths::check_vms_name;

/// The workspace folder.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Its root; every direct sub-folder with a `vms.yaml` is a VMS.
    pub root: PathBuf,
}

/// A template a VMS can be created from.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateInfo {
    /// Its name, as given to `POST /vms`.
    pub name: String,
    /// What it holds.
    pub description: String,
}

impl Workspace {
    /// Opens (creating if needed) the workspace at `root`.
    pub fn open(root: &Path) -> anyhow::Result<Workspace> {
        std::fs::create_dir_all(root.join(".starweave"))
            .with_context(|| format!("cannot create the workspace {}", root.display()))?;
        let root = std::fs::canonicalize(root)?;
        Ok(Workspace { root })
    }

    /// The database file.
    pub fn database_path(&self) -> PathBuf {
        self.root.join(".starweave").join("ide.db")
    }

    /// The names of the VMS in the workspace, sorted.
    pub fn list(&self) -> anyhow::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.root)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if check_vms_name(&name).is_ok()
                && entry.file_type()?.is_dir()
                && entry.path().join("vms.yaml").is_file()
            {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The folder of the VMS `name`: a valid name of an existing VMS, or an error.
    pub fn vms_dir(&self, name: &str) -> ApiResult<PathBuf> {
        check_vms_name(name)?;
        let dir = self.root.join(name);
        if dir.join("vms.yaml").is_file() {
            Ok(dir)
        } else {
            Err(ApiError::NotFound(format!("no VMS named `{name}`")))
        }
    }

    /// Creates the examples when the workspace has no VMS yet.
    pub fn seed_examples(&self) -> anyhow::Result<Vec<String>> {
        if !self.list()?.is_empty() {
            return Ok(Vec::new());
        }
        let mut created = Vec::new();
        for name in embedded::example_names() {
            let files = embedded::example_files(name).expect("listed");
            self.create_from_files(name, &files, &format!("Create {name} from the example"))?;
            created.push(name.to_owned());
        }
        Ok(created)
    }

    /// Creates the VMS `name` from a template; fails when the name is taken.
    pub fn create(&self, name: &str, template: &str) -> ApiResult<PathBuf> {
        check_vms_name(name)?;
        let files = template_files(name, template)?;
        if self.root.join(name).exists() {
            return Err(ApiError::Conflict {
                message: format!("a VMS or folder named `{name}` already exists"),
                details: None,
            });
        }
        Ok(self.create_from_files(
            name,
            &files,
            &format!("Create {name} from the {template} template"),
        )?)
    }

    fn create_from_files(
        &self,
        name: &str,
        files: &VmsFiles,
        message: &str,
    ) -> anyhow::Result<PathBuf> {
        let dir = self.root.join(name);
        let result = (|| {
            std::fs::create_dir(&dir)?;
            crate::files::write_files(&dir, files)?;
            git::init_with_commit(&dir, message)
        })();
        if let Err(err) = result {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
        Ok(dir)
    }
}

/// The templates: the model's starters and the embedded examples.
pub fn templates() -> Vec<TemplateInfo> {
    let mut out: Vec<TemplateInfo> = Template::ALL
        .into_iter()
        .map(|t| TemplateInfo {
            name: t.name().to_owned(),
            description: t.description().to_owned(),
        })
        .collect();
    for name in embedded::example_names() {
        let description = embedded::example_files(name)
            .and_then(|files| files.get("vms.yaml").cloned())
            .and_then(|bytes| {
                let text = String::from_utf8(bytes).ok()?;
                vms::disk::parse_manifest("vms.yaml", &text).0
            })
            .and_then(|m| m.description)
            .unwrap_or_else(|| format!("the {name} example"));
        out.push(TemplateInfo {
            name: name.to_owned(),
            description,
        });
    }
    out
}

/// The files of a new VMS `name` made from `template`.
fn template_files(name: &str, template: &str) -> ApiResult<VmsFiles> {
    if let Some(t) = Template::parse(template) {
        return Ok(vms::write_vms(&vms::template_vms(name, t)));
    }
    let Some(mut files) = embedded::example_files(template) else {
        let known: Vec<String> = templates().into_iter().map(|t| t.name).collect();
        return Err(ApiError::InvalidRequest(format!(
            "there is no template `{template}`; there are: {}",
            known.join(", ")
        )));
    };
    // The example's files verbatim, with the new name in its manifest.
    if name != template
        && let Some(text) = files
            .get("vms.yaml")
            .and_then(|b| String::from_utf8(b.clone()).ok())
        && let (Some(mut manifest), _) = vms::disk::parse_manifest("vms.yaml", &text)
    {
        manifest.name = name.to_owned();
        files.insert(
            "vms.yaml".into(),
            vms::disk::manifest_to_yaml(&manifest).into_bytes(),
        );
    }
    Ok(files)
}

/// `~/.local/share/starweave/workspace`, or under `$XDG_DATA_HOME` when it is set.
pub fn default_root() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("starweave").join("workspace")
}
