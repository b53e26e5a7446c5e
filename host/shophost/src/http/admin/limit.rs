//! The `?limit=` query every admin list takes (orders, journal, attempts, contracts), so that the
//! default and the bounds are written once.

use serde::Deserialize;

/// `?limit=` of the lists (orders, journal, attempts, contracts): 100 rows unless asked, 1 to 1000.
/// Taken as a query of its own next to each list's filters, so that every list reads it the same way.
#[derive(Debug, Deserialize)]
pub(super) struct Limit {
    limit: Option<i64>,
}

impl Limit {
    /// The number of rows to read.
    pub(super) fn rows(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::Limit;

    #[test]
    fn a_limit_is_100_unless_asked_and_stays_between_1_and_1000() {
        let rows = |limit| Limit { limit }.rows();
        assert_eq!(rows(None), 100);
        assert_eq!(rows(Some(20)), 20);
        assert_eq!(rows(Some(0)), 1);
        assert_eq!(rows(Some(-5)), 1);
        assert_eq!(rows(Some(5000)), 1000);
    }
}
