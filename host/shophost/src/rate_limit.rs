//! The per-source rate limit of the gateway routes (`/index.php`, `/notify/*`): a token bucket per
//! source address, in this process's memory.
//!
//! Anyone can post to a notification URL, and every request costs a decode and, for most, a write;
//! on SQLite those writes share the one writer with genuine notifications. The bucket lets a source
//! send `burst` requests at once and then `rate_per_minute` a minute. The addresses a module allows
//! for the endpoint (its `NotificationTrust::SourceAddress` ranges: the gateway's published addresses) are never limited:
//! the check is in `http/gateway.rs`, before a bucket is touched. A gateway trusted by signature has
//! no address list, so its requests are limited like anyone's; the defaults leave room for its bursts.
//!
//! IPv6 sources are counted per /64, the block one subscriber usually gets, so that a single
//! attacker cannot use a fresh address for every request. Several host processes each count on
//! their own, and a restart forgets the counts; the limit is a brake, not a budget.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most sources remembered; beyond it idle (refilled) buckets are forgotten, and if all are busy,
/// all are (memory stays bounded under a flood from many addresses).
const MAX_SOURCES: usize = 100_000;

/// The key a source address is counted under: an IPv4 address (IPv4-mapped IPv6 included) as it is,
/// an IPv6 address by its /64.
pub fn source_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let segments = v6.segments();
                IpAddr::V6(Ipv6Addr::new(
                    segments[0],
                    segments[1],
                    segments[2],
                    segments[3],
                    0,
                    0,
                    0,
                    0,
                ))
            }
        },
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by source (see [`source_key`]).
#[derive(Debug)]
pub struct SourceRateLimit {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl SourceRateLimit {
    /// A limit of `rate_per_minute` requests a minute with bursts of `burst` (both at least 1).
    pub fn new(rate_per_minute: u32, burst: u32) -> Self {
        SourceRateLimit {
            per_second: f64::from(rate_per_minute.max(1)) / 60.0,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.per_second).min(self.burst)
    }

    /// Takes one request from `source`'s bucket; `Err(wait)` when it is empty: how long until the
    /// next request would be let through.
    pub fn check(&self, source: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = source_key(source);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&key) {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < self.burst);
            if buckets.len() >= MAX_SOURCES {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            Err(Duration::from_secs_f64((1.0 - tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_the_rate() {
        let limit = SourceRateLimit::new(60, 3);
        let start = Instant::now();
        let source: IpAddr = "203.0.113.7".parse().unwrap();
        for i in 0..3 {
            assert!(limit.check(source, start).is_ok(), "request {i}");
        }
        let wait = limit.check(source, start).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        // Another source has its own bucket.
        assert!(limit.check("203.0.113.8".parse().unwrap(), start).is_ok());
        // One request a second comes back.
        let later = start + Duration::from_millis(1000);
        assert!(limit.check(source, later).is_ok());
        assert!(limit.check(source, later).is_err());
        // A long pause refills only up to the burst.
        let much_later = start + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limit.check(source, much_later).is_ok());
        }
        assert!(limit.check(source, much_later).is_err());
    }

    #[test]
    fn ipv6_sources_are_counted_per_64_and_mapped_ipv4_as_ipv4() {
        let limit = SourceRateLimit::new(1, 1);
        let now = Instant::now();
        assert!(limit.check("2001:db8:1:2::1".parse().unwrap(), now).is_ok());
        assert!(limit
            .check("2001:db8:1:2:ffff::9".parse().unwrap(), now)
            .is_err());
        assert!(limit.check("2001:db8:1:3::1".parse().unwrap(), now).is_ok());
        assert!(limit.check("192.0.2.1".parse().unwrap(), now).is_ok());
        assert!(limit
            .check("::ffff:192.0.2.1".parse().unwrap(), now)
            .is_err());
    }
}
