//! Project files: YAML in, YAML out. Export leaves archived objects out (applying a
//! file archives what it does not list), so applying an export changes nothing.

use crate::error::ProjectError;
use crate::model::Project;

/// A project from YAML (JSON is YAML too). Errors name the line and column.
pub fn from_yaml(text: &str) -> Result<Project, ProjectError> {
    serde_yaml_ng::from_str(text).map_err(|e| ProjectError::Syntax(e.to_string()))
}

/// The live part of `project` as YAML.
pub fn to_yaml(project: &Project) -> Result<String, ProjectError> {
    serde_yaml_ng::to_string(&live(project)).map_err(|e| ProjectError::Syntax(e.to_string()))
}

/// `project` without its archived objects.
pub fn live(project: &Project) -> Project {
    let mut p = project.clone();
    p.environments.retain(|x| !x.archived);
    p.attributes.retain(|x| !x.archived);
    p.audiences.retain(|x| !x.archived);
    p.events.retain(|x| !x.archived);
    p.groups.retain(|x| !x.archived);
    p.experiments.retain(|x| !x.archived);
    p.flags.retain(|x| !x.archived);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_errors_with_a_line() {
        let err = from_yaml("key: shop\nflags:\n  - key: a\n    colour: red\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `colour`") && err.contains("line 4"), "{err}");
    }

    #[test]
    fn round_trips() {
        let text = "key: shop\nenvironments:\n- key: production\nflags:\n- key: checkout\n  variables:\n  - key: n\n    type: integer\n    default: 3\n  variations:\n  - key: 'on'\n    enabled: true\n    variables:\n      n: 4\n";
        let p = from_yaml(text).unwrap();
        assert_eq!(p.flags[0].variables[0].default, "3");
        assert_eq!(p.flags[0].variations[0].variables["n"], "4");
        assert_eq!(from_yaml(&to_yaml(&p).unwrap()).unwrap(), p);
    }
}
