//! Validation: the checks that look across a model, after reading.
//!
//! Readers ([`crate::bpmn::read_bpmn`], [`crate::vms::read_vms`]) report what is wrong with a
//! single file's structure. The validators here report what is wrong with what the files
//! *mean*: BPMN graphs that cannot run as drawn ([`validate_bpmn`]) and references across a
//! VMS that do not resolve ([`validate_vms`]). Every diagnostic carries the file, line, column
//! and element id the reader recorded, so a user can jump to it.
//!
//! Diagnostic codes are stable; the IDE and `starweave validate --format json` expose them.

mod graph;
mod vms;

pub use graph::{Executability, validate_definitions};
pub use vms::validate_vms;

use crate::{Diagnostic, bpmn::BpmnDocument};

/// Validates a standalone BPMN document, as written by any modelling tool.
///
/// Structural rules (references that must resolve) apply to every process; the rules about
/// running (reachability, gateway conditions, cycles) apply only to processes marked
/// `isExecutable="true"`, as the BPMN standard intends. Reader diagnostics are not repeated.
pub fn validate_bpmn(doc: &BpmnDocument) -> Vec<Diagnostic> {
    validate_definitions(&doc.definitions, &doc.source_map, Executability::AsDeclared)
}
