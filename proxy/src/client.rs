//! The client's address, for per-address limits and the audit trail.
//!
//! It is the TCP peer, unless the proxy runs behind a reverse proxy it trusts
//! (`--trust-forwarded-for`): then it is the last `X-Forwarded-For` entry, the one that
//! proxy added (earlier entries are the client's own word). Entries written `ip:port` or
//! `[v6]:port`, as some cloud gateways do, are read too.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// The address to count and record a request under.
pub(crate) fn address(peer: SocketAddr, headers: &HeaderMap, trust_forwarded_for: bool) -> IpAddr {
    if trust_forwarded_for && let Some(forwarded) = last_forwarded(headers) {
        return forwarded;
    }
    peer.ip()
}

fn last_forwarded(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()?;
    parse_entry(last.trim())
}

/// `203.0.113.9`, `203.0.113.9:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    // `[2001:db8::1]` without a port.
    entry
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|v6| v6.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().unwrap());
        headers
    }

    const PEER: &str = "192.0.2.7:50000";

    #[test]
    fn forwarded_entries_count_only_when_trusted() {
        let peer: SocketAddr = PEER.parse().unwrap();
        let headers = with_forwarded("203.0.113.9, 198.51.100.4");
        assert_eq!(address(peer, &headers, false).to_string(), "192.0.2.7");
        assert_eq!(address(peer, &headers, true).to_string(), "198.51.100.4");
        assert_eq!(
            address(peer, &HeaderMap::new(), true).to_string(),
            "192.0.2.7"
        );
    }

    #[test]
    fn gateway_shapes_are_read() {
        let peer: SocketAddr = PEER.parse().unwrap();
        for (value, expected) in [
            ("198.51.100.4:4711", "198.51.100.4"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("x, 198.51.100.4:80", "198.51.100.4"),
            // Garbage in the last entry: the peer, never a shared "unknown" bucket.
            ("198.51.100.4, not-an-address", "192.0.2.7"),
        ] {
            assert_eq!(
                address(peer, &with_forwarded(value), true).to_string(),
                expected,
                "{value}"
            );
        }
    }
}
