//! What every HTML form of the host shares: its problems, each keyed by the field it is about, and
//! reading fields from a posted form.

use crate::domain::customer::CustomerProblem;

/// A posted form's fields in order (a name may repeat: checkboxes, lists).
pub type Fields = Vec<(String, String)>;

/// The value of a form field, empty when it is missing.
pub fn field(fields: &Fields, name: &str) -> String {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .unwrap_or_default()
}

/// Every value of a repeated field, in order.
pub fn field_values(fields: &Fields, name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.clone())
        .collect()
}

/// A form's problems, each keyed by the field it is about (empty for the form as a whole), so the page
/// lists them above the form and shows each next to its field.
#[derive(Debug, Default)]
pub struct FormErrors(Vec<(String, String)>);

impl FormErrors {
    /// Adds a problem (once: the same message for the same field is kept once).
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let problem = (field.into(), message.into());
        if !self.0.contains(&problem) {
            self.0.push(problem);
        }
    }

    /// One problem of the whole form.
    pub fn general(message: impl Into<String>) -> FormErrors {
        let mut errors = FormErrors::default();
        errors.add("", message);
        errors
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Every message, in order.
    pub fn messages(&self) -> Vec<&str> {
        self.0.iter().map(|(_, message)| message.as_str()).collect()
    }

    /// The messages about one field.
    pub fn for_field(&self, field: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(name, _)| name == field)
            .map(|(_, message)| message.as_str())
            .collect()
    }
}

impl From<Vec<CustomerProblem>> for FormErrors {
    fn from(problems: Vec<CustomerProblem>) -> Self {
        let mut errors = FormErrors::default();
        for problem in problems {
            errors.add(problem.field, problem.message);
        }
        errors
    }
}
