//! Starweave's own bindings, kept in `extensionElements` in the namespace
//! [`super::STARWEAVE_NS`] (see the module docs of [`super`] for the XML).

use serde::{Deserialize, Serialize};

use super::model::Unknown;

/// What a task runs and how: the `sw:task` extension element.
///
/// Exactly one of `connector` + `method`, `function`, `bpmn_function` or `component`
/// should be set; the reader keeps whatever the file says and validation complains about
/// conflicts, so a half-edited file still round-trips.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StarweaveTask {
    /// The connector called (with `method`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// The connector method called.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A code function (JavaScript or Rhai) of the VMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// A BPMN function of the VMS, called by a call activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpmn_function: Option<String>,
    /// A component from the public or team library (`library/name@version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Time budget as duration text (`250ms`, `5s`, `2m`, `1h`); see [`parse_duration_ms`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// How many times a failed call is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Wait between retries, as duration text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<String>,
    /// Input mappings: parameter of the callee ← Rhai expression over process variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Mapping>,
    /// Output mappings: process variable ← Rhai expression over `result`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<Mapping>,
    /// The collection binding of a multi-instance activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_instance: Option<StarweaveMultiInstance>,
    /// Unmodelled attributes and children (future versions of the format).
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// Which thing a [`StarweaveTask`] calls, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StarweaveTarget<'a> {
    /// A connector method.
    ConnectorMethod {
        /// Connector name.
        connector: &'a str,
        /// Method name (empty when missing).
        method: &'a str,
    },
    /// A code function.
    Function(&'a str),
    /// A BPMN function.
    BpmnFunction(&'a str),
    /// A library component.
    Component(&'a str),
}

impl StarweaveTask {
    /// The first target set, in the order connector, function, BPMN function, component.
    pub fn target(&self) -> Option<StarweaveTarget<'_>> {
        if let Some(connector) = &self.connector {
            return Some(StarweaveTarget::ConnectorMethod {
                connector,
                method: self.method.as_deref().unwrap_or(""),
            });
        }
        if let Some(f) = &self.function {
            return Some(StarweaveTarget::Function(f));
        }
        if let Some(f) = &self.bpmn_function {
            return Some(StarweaveTarget::BpmnFunction(f));
        }
        self.component.as_deref().map(StarweaveTarget::Component)
    }
}

/// One mapping: `name` is the parameter (inputs) or variable (outputs), `expr` a Rhai expression.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    /// Parameter or variable name.
    pub name: String,
    /// Rhai expression.
    pub expr: String,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// The collection binding of a multi-instance activity (`sw:multiInstance`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StarweaveMultiInstance {
    /// Rhai expression yielding the array iterated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
    /// Variable holding the current item inside each instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element_variable: Option<String>,
    /// Variable receiving the array of per-instance results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_collection: Option<String>,
    /// Rhai expression evaluated in each instance to produce its result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_element: Option<String>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// Parses Starweave duration text (`250ms`, `5s`, `2m`, `1h`, or a sum such as `1m30s`)
/// into milliseconds; `None` when it is not one.
pub fn parse_duration_ms(text: &str) -> Option<u64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return None,
        };
        total = total.checked_add(value.checked_mul(factor)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_sums() {
        assert_eq!(parse_duration_ms("250ms"), Some(250));
        assert_eq!(parse_duration_ms("5s"), Some(5_000));
        assert_eq!(parse_duration_ms("1m30s"), Some(90_000));
        assert_eq!(parse_duration_ms("2h"), Some(7_200_000));
        assert_eq!(parse_duration_ms("5"), None);
        assert_eq!(parse_duration_ms("s"), None);
        assert_eq!(parse_duration_ms("5 parsecs"), None);
        assert_eq!(parse_duration_ms(""), None);
    }
}
