//! Rate limits: per client address on every endpoint, and per licence on the credit endpoints.
//!
//! A client over its limit gets `429 {"error": "rate_limited", …}` with `Retry-After` (whole seconds),
//! before any work is done for it: no signature check, no storage. The limits are GCRA buckets
//! (`governor`): a client may send `burst` requests at once and `per_second` sustained. Behind a
//! reverse proxy every request comes from the proxy's address, so the per-address limit is then the
//! proxy's: set it there, or raise it here (`[limits]`). Per-licence limits follow the licence
//! whoever holds its key, from any address.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tessera_keys::LicenseId;

use crate::config::{Config, RateLimit};
use crate::error::ErrorBody;

/// How often keys idle long enough to have a full bucket are forgotten, so that a stream of new
/// client addresses cannot grow the tables without bound.
const HOUSEKEEPING: Duration = Duration::from_secs(10);

/// The issuer's limiters.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_license: Option<DefaultKeyedRateLimiter<LicenseId>>,
}

fn limiter<K: std::hash::Hash + Eq + Clone>(
    limit: RateLimit,
) -> Option<DefaultKeyedRateLimiter<K>> {
    let per_second = NonZeroU32::new(limit.per_second)?;
    let burst = NonZeroU32::new(limit.burst).unwrap_or(per_second);
    Some(RateLimiter::keyed(
        Quota::per_second(per_second).allow_burst(burst),
    ))
}

/// Over the limit: retry after this long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// When the next request would be let through.
    pub retry_after: Duration,
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        // Whole seconds, rounded up, at least 1: what Retry-After can say.
        let seconds = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        let seconds = seconds.max(1);
        let mut response = ErrorBody::new(
            "rate_limited",
            format!("too many requests; retry after {seconds} s"),
        )
        .into_response_with(StatusCode::TOO_MANY_REQUESTS);
        if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

impl RateLimits {
    /// The limits `config` sets.
    pub fn new(config: &Config) -> RateLimits {
        RateLimits {
            per_ip: limiter(config.per_ip),
            per_license: limiter(config.per_license),
        }
    }

    /// Counts a request from `address`.
    pub fn check_ip(&self, address: IpAddr) -> Result<(), Limited> {
        check(self.per_ip.as_ref(), &address)
    }

    /// Counts a credit request for licence `id`.
    pub fn check_license(&self, id: &LicenseId) -> Result<(), Limited> {
        check(self.per_license.as_ref(), id)
    }

    /// Forgets idle keys now and then, until the task is dropped with the runtime.
    pub fn start_housekeeping(limits: Arc<RateLimits>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HOUSEKEEPING);
            loop {
                tick.tick().await;
                if let Some(limiter) = &limits.per_ip {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
                if let Some(limiter) = &limits.per_license {
                    limiter.retain_recent();
                    limiter.shrink_to_fit();
                }
            }
        })
    }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: Option<&DefaultKeyedRateLimiter<K>>,
    key: &K,
) -> Result<(), Limited> {
    let Some(limiter) = limiter else {
        return Ok(());
    };
    limiter.check_key(key).map_err(|not_until| Limited {
        retry_after: not_until.wait_time_from(DefaultClock::default().now()),
    })
}

/// Middleware: the per-address limit, for every request that came over a socket.
pub async fn per_ip(
    State(limits): State<Arc<RateLimits>>,
    request: Request,
    next: Next,
) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    if let Some(address) = address {
        if let Err(limited) = limits.check_ip(address) {
            tracing::warn!(%address, path = %crate::server::loggable_path(&request), "rate limited");
            return limited.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds_and_keys_are_apart() {
        let limiter = limiter::<u8>(RateLimit {
            per_second: 1,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(check(limiter.as_ref(), &1), Ok(()));
        }
        let limited = check(limiter.as_ref(), &1).unwrap_err();
        assert!(limited.retry_after <= Duration::from_secs(1), "{limited:?}");
        assert_eq!(check(limiter.as_ref(), &2), Ok(()));
        let response = limited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn zero_per_second_turns_a_limit_off() {
        let limiter = limiter::<u8>(RateLimit {
            per_second: 0,
            burst: 0,
        });
        assert!((0..10_000).all(|_| check(limiter.as_ref(), &1).is_ok()));
    }
}
