//! Per-user and per-address limits on unlink attempts (a GCRA from `governor`).

use std::{hash::Hash, net::IpAddr, num::NonZeroU32};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

/// Unlinks per minute; each limit also allows a burst of that many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    pub per_principal: NonZeroU32,
    pub per_ip: NonZeroU32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_principal: NonZeroU32::new(10).expect("non-zero"),
            per_ip: NonZeroU32::new(60).expect("non-zero"),
        }
    }
}

/// The two limiters. Keys that stay quiet are forgotten by [`Limiter::forget_idle`].
pub struct Limiter {
    principal: DefaultKeyedRateLimiter<String>,
    ip: DefaultKeyedRateLimiter<IpAddr>,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

impl Limiter {
    pub fn new(limits: RateLimits) -> Self {
        Self {
            principal: RateLimiter::keyed(Quota::per_minute(limits.per_principal)),
            ip: RateLimiter::keyed(Quota::per_minute(limits.per_ip)),
        }
    }

    /// `Err(seconds to wait)` when this address is over its limit.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), u64> {
        check(&self.ip, &ip)
    }

    /// `Err(seconds to wait)` when this user is over their limit.
    pub fn check_principal(&self, principal: &str) -> Result<(), u64> {
        check(&self.principal, &principal.to_owned())
    }

    /// Drops state for keys whose limits have fully recovered, so memory stays bounded.
    pub fn forget_idle(&self) {
        self.principal.retain_recent();
        self.ip.retain_recent();
    }
}

fn check<K: Hash + Eq + Clone>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), u64> {
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(governor::clock::DefaultClock::default().now());
        // Round up: "retry after 0 seconds" would invite an immediate, refused retry.
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_per_key_and_say_how_long_to_wait() {
        let limiter = Limiter::new(RateLimits {
            per_principal: NonZeroU32::new(2).unwrap(),
            per_ip: NonZeroU32::new(3).unwrap(),
        });
        assert!(limiter.check_principal("alice").is_ok());
        assert!(limiter.check_principal("alice").is_ok());
        let wait = limiter.check_principal("alice").unwrap_err();
        assert!((1..=30).contains(&wait), "{wait}");
        assert!(limiter.check_principal("bob").is_ok());

        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check_ip(ip).is_ok());
        }
        assert!(limiter.check_ip(ip).is_err());
        assert!(limiter.check_ip("192.0.2.2".parse().unwrap()).is_ok());
        limiter.forget_idle();
    }
}
