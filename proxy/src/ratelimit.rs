//! Per-user and per-address limits on unlink attempts.
//!
//! Each limit is a GCRA ("generic cell rate algorithm", what `governor` and most API
//! gateways use): a limit of N per minute allows a burst of N, then one every 60/N seconds.
//! The state per bucket is one number, the theoretical arrival time, so a store can keep
//! it in memory (one process) or update it with one atomic statement (several replicas).

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    time::Duration,
};

/// Unlink attempts allowed per minute; each limit also allows a burst of that many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Per signed-in user (the authoriser's principal).
    pub per_principal: NonZeroU32,
    /// Per client address (IPv6: per /64).
    pub per_address: NonZeroU32,
    /// Webhook deliveries carrying the right secret (Mono's), all addresses together.
    pub per_webhook_secret: NonZeroU32,
    /// Unlinks through the service route, per token.
    pub per_service_token: NonZeroU32,
    /// Status lookups (`GET {prefix}/accounts/{id}`), per signed-in user: a page of many
    /// widgets asks once for each.
    pub status_per_principal: NonZeroU32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            per_principal: NonZeroU32::new(10).expect("non-zero"),
            per_address: NonZeroU32::new(60).expect("non-zero"),
            per_webhook_secret: NonZeroU32::new(6000).expect("non-zero"),
            per_service_token: NonZeroU32::new(600).expect("non-zero"),
            status_per_principal: NonZeroU32::new(300).expect("non-zero"),
        }
    }
}

/// The window a limit is counted over.
pub const PERIOD: Duration = Duration::from_secs(60);

/// What is being limited: a signed-in user, or a client address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// Unlinks by one user.
    Principal(String),
    /// Unlinks from a client address; see [`address_bucket`].
    Address(String),
    /// Webhook deliveries that carried the right secret.
    WebhookSecret,
    /// Unlinks through the service route with one token (by its name).
    ServiceToken(String),
    /// Status lookups by one signed-in user.
    Status(String),
    /// Status lookups from one client address.
    StatusAddress(String),
}

impl Bucket {
    /// One string per bucket, for stores: `p:user-42`, `a:203.0.113.9`.
    pub fn key(&self) -> String {
        match self {
            Self::Principal(principal) => format!("p:{principal}"),
            Self::Address(address) => format!("a:{address}"),
            Self::WebhookSecret => "w:secret".to_owned(),
            Self::ServiceToken(name) => format!("t:{name}"),
            Self::Status(principal) => format!("s:{principal}"),
            Self::StatusAddress(address) => format!("sa:{address}"),
        }
    }
}

/// The address bucket for a client: its IPv4 address, or its IPv6 /64. One subscriber gets a
/// whole /64 (often more), so per-address limits on full IPv6 addresses would let one client
/// pick among 2^64 buckets.
pub fn address_bucket(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        },
    }
}

/// One GCRA step, in microseconds (so limits of thousands a minute keep their precision).
/// `tat` is the bucket's stored theoretical arrival time, `None` for a new bucket. Allowed:
/// `Ok(new tat to store)`. Refused: `Err(milliseconds to wait)`, and the stored value stays
/// as it was.
pub fn gcra(tat: Option<i64>, now: i64, limit: NonZeroU32) -> Result<i64, i64> {
    let (interval, burst) = interval_and_burst(limit);
    let tat = tat.unwrap_or(now).max(now);
    let next = tat + interval;
    let allowed_from = next - burst;
    if now < allowed_from {
        Err((allowed_from - now + 999) / 1000)
    } else {
        Ok(next)
    }
}

/// For `limit` a minute: the time one attempt takes up, and the whole burst's, in µs.
pub fn interval_and_burst(limit: NonZeroU32) -> (i64, i64) {
    let limit = i64::from(limit.get());
    // At least a microsecond: a limit above 60 million a minute is "no limit" in effect.
    let interval = (PERIOD.as_micros() as i64 / limit).max(1);
    (interval, interval * limit)
}

/// Milliseconds to wait, as the whole seconds a `Retry-After` header says: rounded up, since
/// "retry after 0 seconds" would invite an immediate, refused retry.
pub fn retry_after_seconds(wait_ms: i64) -> u64 {
    (wait_ms.max(0) as u64).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    /// Runs `count` checks at `now`, storing each new arrival time, and returns the answers.
    fn burst(tat: &mut Option<i64>, now: i64, count: usize, n: u32) -> Vec<Result<(), i64>> {
        (0..count)
            .map(|_| match gcra(*tat, now, limit(n)) {
                Ok(next) => {
                    *tat = Some(next);
                    Ok(())
                }
                Err(wait) => Err(wait),
            })
            .collect()
    }

    #[test]
    fn a_burst_of_the_limit_then_one_per_interval() {
        let mut tat = None;
        let second = 1_000_000;
        let answers = burst(&mut tat, 1_000 * second, 11, 10);
        assert!(answers[..10].iter().all(Result::is_ok));
        assert_eq!(answers[10], Err(6_000), "one more every 6 s");
        // 6 s later exactly one more is allowed.
        let answers = burst(&mut tat, 1_006 * second, 2, 10);
        assert_eq!(answers, [Ok(()), Err(6_000)]);
        // A minute of quiet restores the whole burst.
        let answers = burst(&mut tat, 1_066 * second, 10, 10);
        assert!(answers.iter().all(Result::is_ok));
    }

    #[test]
    fn large_limits_keep_their_precision() {
        // 100,000 a minute is one every 600 µs, not "one every 0 ms".
        let mut tat = None;
        let answers = burst(&mut tat, 1_000_000_000, 100_001, 100_000);
        assert!(answers[..100_000].iter().all(Result::is_ok));
        assert_eq!(
            answers[100_000],
            Err(1),
            "600 µs, rounded up to a millisecond"
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(6_000), 6);
        assert_eq!(retry_after_seconds(5_001), 6);
        assert_eq!(retry_after_seconds(1), 1);
        assert_eq!(retry_after_seconds(0), 1);
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_bucket(a), "2001:db8:1:2::/64");
        assert_eq!(address_bucket(a), address_bucket(b));
        assert_ne!(address_bucket(a), address_bucket(other));
        assert_eq!(address_bucket("192.0.2.7".parse().unwrap()), "192.0.2.7");
        assert_eq!(
            address_bucket("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7",
            "IPv4 clients of a dual-stack socket count as IPv4"
        );
        assert_eq!(
            Bucket::Address(address_bucket(a)).key(),
            "a:2001:db8:1:2::/64"
        );
        assert_eq!(Bucket::Principal("u".into()).key(), "p:u");
    }
}
