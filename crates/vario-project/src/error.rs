//! [`ProjectError`], the one error type of the crate, and [`Problem`], one validation
//! failure with the path of the field it is about.

use std::fmt;

/// One reason a project is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Path of the offending field, e.g. `flags[0].rules[1].traffic[2].end`.
    pub path: String,
    /// What is wrong, naming the failing value.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The project breaks one or more rules; nothing was changed.
    #[error("invalid project: {}", join(.0))]
    Invalid(Vec<Problem>),
    /// A YAML or JSON document that does not fit the model.
    #[error("{0}")]
    Syntax(String),
    /// No project with this key.
    #[error("no project {0:?}")]
    NotFound(String),
    /// An object to create exists already.
    #[error("{0}")]
    Exists(String),
    /// The caller's revision is not the current one: someone else changed the project.
    #[error("project {project:?} is at revision {current}, not {expected}; reload and retry")]
    Conflict {
        /// The project.
        project: String,
        /// The revision the caller based its change on.
        expected: u64,
        /// The current revision.
        current: u64,
    },
    /// A datafile that cannot be imported.
    #[error("cannot import the datafile: {0}")]
    Import(String),
    /// A built datafile that the SDK parser refuses: a bug in the builder.
    #[error("the built datafile of environment {environment:?} is invalid: {message}")]
    Build {
        /// The environment.
        environment: String,
        /// The parser's message.
        message: String,
    },
    /// The database.
    #[error("project database {path}: {message}")]
    Storage {
        /// The database file.
        path: String,
        /// What failed.
        message: String,
    },
}

impl ProjectError {
    /// A single validation problem.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Problem::new(path, message)])
    }

    /// The problems of an [`ProjectError::Invalid`], else none.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
