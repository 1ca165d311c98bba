//! Files compiled into the binary by `build.rs`: the example VMS and, when built with
//! `STARWEAVE_UI_DIST`, the IDE's UI.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// The names of the embedded examples, in order.
pub fn example_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = EXAMPLE_FILES.iter().map(|(name, _, _)| *name).collect();
    names.dedup();
    names
}

/// The files of one embedded example, path → content.
pub fn example_files(name: &str) -> Option<starweave_model::vms::VmsFiles> {
    let files: starweave_model::vms::VmsFiles = EXAMPLE_FILES
        .iter()
        .filter(|(example, _, _)| *example == name)
        .map(|(_, path, bytes)| ((*path).to_owned(), bytes.to_vec()))
        .collect();
    (!files.is_empty()).then_some(files)
}
