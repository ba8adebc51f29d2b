use std::fmt;

/// Why a datafile could not be loaded.
///
/// Every variant names what failed and with which value; [`DatafileError::Invalid`]
/// also carries the JSON path of the offending field, e.g.
/// `experiments[3].trafficAllocation[0].endOfRange: expected an integer, found "x"`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatafileError {
    /// The text is not JSON at all.
    #[error("datafile is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// The `version` field names a version this SDK does not read.
    #[error("unsupported datafile version {0}")]
    UnsupportedVersion(String),
    /// A field is missing, has the wrong type, or refers to something that does not exist.
    #[error("{path}: {problem}")]
    Invalid {
        /// JSON path of the field, e.g. `featureFlags[2].rolloutId`.
        path: String,
        /// What is wrong with it.
        problem: Problem,
    },
}

impl DatafileError {
    /// The JSON path of the offending field, when the error is about one field.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// What is wrong with one field of a datafile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A required field is absent.
    Missing,
    /// The field has the wrong JSON type: `expected`, and a short rendering of what was found.
    WrongType {
        /// The type the datafile format requires, e.g. "an integer".
        expected: &'static str,
        /// The value found, rendered briefly (`"x"`, `5000.0`, `null`, `an object`).
        found: String,
    },
    /// A reference to an entity that the datafile does not define.
    UnknownReference {
        /// What kind of entity was expected, e.g. "experiment".
        kind: &'static str,
        /// The id that did not resolve.
        id: String,
    },
    /// A legacy audience's `conditions` string is not JSON.
    ConditionsNotJson(String),
    /// Anything else the JSON reader reports.
    Other(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing required field"),
            Self::WrongType { expected, found } => write!(f, "expected {expected}, found {found}"),
            Self::UnknownReference { kind, id } => write!(f, "unknown {kind} id {id:?}"),
            Self::ConditionsNotJson(e) => write!(f, "conditions string is not valid JSON ({e})"),
            Self::Other(message) => f.write_str(message),
        }
    }
}

/// A field the datafile loads with although it does not have the format's type: the
/// reference SDKs load such datafiles and answer for the odd part in their own way
/// (`message` says how), so it is reported once, at load, instead of refusing the whole
/// datafile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// JSON path of the field, e.g. `featureFlags[0].variables[4].defaultValue`.
    pub path: String,
    /// What is odd and what is answered for it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
