//! The [`Report`] of a conformance run: one [`CheckResult`] per check, passed or failed with the
//! reason, printed as a list a module author can read in a failed test's output.

use std::fmt;

use crate::checks::CHECKS;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name, one of [`CHECKS`] (or `setup`).
    pub name: &'static str,
    /// `Ok`, or why it failed.
    pub outcome: Result<(), String>,
}

/// What [`run_conformance`](crate::run_conformance) found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The module's id.
    pub module_id: String,
    /// Every check, in the order run.
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Whether every check ran and passed.
    pub fn passed(&self) -> bool {
        self.checks.len() == CHECKS.len() && self.checks.iter().all(|c| c.outcome.is_ok())
    }

    /// The names of the checks that passed.
    pub fn passed_checks(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|c| c.outcome.is_ok())
            .map(|c| c.name)
            .collect()
    }

    /// Panics with the whole report unless every check passed.
    #[track_caller]
    pub fn assert_passed(&self) {
        assert!(self.passed(), "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let passed = self.checks.iter().filter(|c| c.outcome.is_ok()).count();
        writeln!(
            f,
            "conformance of module `{}`: {passed} of {} checks passed",
            self.module_id,
            CHECKS.len()
        )?;
        for check in &self.checks {
            match &check.outcome {
                Ok(()) => writeln!(f, "  ok    {}", check.name)?,
                Err(reason) => writeln!(f, "  FAIL  {}: {reason}", check.name)?,
            }
        }
        for (name, _) in CHECKS {
            if !self.checks.iter().any(|c| c.name == *name) {
                writeln!(f, "  skip  {name} (not run)")?;
            }
        }
        Ok(())
    }
}
