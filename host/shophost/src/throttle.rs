//! Login throttling: failed logins counted per client address and per account over a sliding
//! window, so that guessing one member's password, or trying many members' from one address, soon
//! has to wait.
//!
//! The counts live in this process's memory: several hosts behind one load balancer each count on
//! their own (a guesser gets that many more tries, still few), and a restart forgets them. A success
//! clears the account's count, not the address's (one address may be a shop's whole office).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failures are counted over.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins one account may have in [`WINDOW`] before it has to wait.
pub const PER_ACCOUNT: usize = 5;
/// Failed logins one client address may have in [`WINDOW`] before it has to wait.
pub const PER_ADDRESS: usize = 20;
/// The most keys kept; beyond it the oldest are forgotten (memory stays bounded under a flood).
const MAX_KEYS: usize = 100_000;

/// Failed logins, by key.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

fn account_key(email: &str) -> String {
    format!("account:{}", email.trim().to_lowercase())
}

fn address_key(client: IpAddr) -> String {
    format!("address:{client}")
}

impl LoginThrottle {
    /// `Err(wait)` when this client or this account has failed too often lately: how long until the
    /// oldest counted failure leaves the window.
    pub fn check(&self, client: IpAddr, email: &str, now: Instant) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let wait = |key: &str, limit: usize| {
            let recent: Vec<&Instant> = failures
                .get(key)
                .map(|times| {
                    times
                        .iter()
                        .filter(|t| now.duration_since(**t) < WINDOW)
                        .collect()
                })
                .unwrap_or_default();
            (recent.len() >= limit).then(|| {
                let oldest = recent.iter().min().copied().copied().unwrap_or(now);
                WINDOW.saturating_sub(now.duration_since(oldest))
            })
        };
        match wait(&account_key(email), PER_ACCOUNT).max(wait(&address_key(client), PER_ADDRESS)) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, client: IpAddr, email: &str, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if failures.len() >= MAX_KEYS {
            failures.retain(|_, times| times.iter().any(|t| now.duration_since(*t) < WINDOW));
            if failures.len() >= MAX_KEYS {
                failures.clear();
            }
        }
        for key in [account_key(email), address_key(client)] {
            let times = failures.entry(key).or_default();
            times.retain(|t| now.duration_since(*t) < WINDOW);
            times.push(now);
        }
    }

    /// A successful login clears the account's failures.
    pub fn succeeded(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&account_key(email));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_waits_after_five_failures_until_the_oldest_leaves_the_window() {
        let throttle = LoginThrottle::default();
        let start = Instant::now();
        let client: IpAddr = "198.51.100.1".parse().unwrap();
        for i in 0..PER_ACCOUNT {
            assert!(
                throttle.check(client, "Taro@Example.jp", start).is_ok(),
                "{i}"
            );
            throttle.failed(
                client,
                "taro@example.jp",
                start + Duration::from_secs(i as u64),
            );
        }
        let later = start + Duration::from_secs(60);
        let wait = throttle
            .check(client, "taro@example.jp", later)
            .unwrap_err();
        assert_eq!(wait, WINDOW - Duration::from_secs(60));
        // Another account from another address is not held up.
        let other: IpAddr = "198.51.100.2".parse().unwrap();
        assert!(throttle.check(other, "hanako@example.jp", later).is_ok());
        // Once the oldest failure is out of the window, one more try is allowed.
        assert!(throttle
            .check(
                client,
                "taro@example.jp",
                start + WINDOW + Duration::from_millis(1)
            )
            .is_ok());
        // A success clears the account.
        throttle.succeeded("taro@example.jp");
        assert!(throttle.check(other, "taro@example.jp", later).is_ok());
    }

    #[test]
    fn an_address_waits_after_twenty_failures_across_accounts() {
        let throttle = LoginThrottle::default();
        let now = Instant::now();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        for i in 0..PER_ADDRESS {
            throttle.failed(client, &format!("member{i}@example.jp"), now);
        }
        assert!(throttle.check(client, "new@example.jp", now).is_err());
        let elsewhere: IpAddr = "203.0.113.10".parse().unwrap();
        assert!(throttle.check(elsewhere, "new@example.jp", now).is_ok());
    }
}
