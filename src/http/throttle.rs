//! Login and pairing throttles (governor's GCRA rate limiters, keyed per account and per address).
//!
//! Every attempt counts, successful or not: a resident logs in a handful of times a day, so a burst
//! of 5 per account (refilled one per 12 s) never touches real use but stops password guessing; the
//! per-address limit (burst 30, refilled one per second) stops one client spraying many accounts.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, AppResult};

/// Keyed limiters above this many keys are pruned of keys that are back at full burst.
const PRUNE_ABOVE: usize = 100_000;

/// The service's throttles.
pub struct Throttle {
    per_account: DefaultKeyedRateLimiter<String>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

fn quota(burst: u32, every: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

impl Throttle {
    /// Throttles with the given bursts per account and per client address.
    pub fn new(burst_per_account: u32, burst_per_address: u32) -> Self {
        Throttle {
            per_account: RateLimiter::keyed(quota(burst_per_account, Duration::from_secs(12))),
            per_address: RateLimiter::keyed(quota(burst_per_address, Duration::from_secs(1))),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(&self, limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> AppResult<()> {
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            AppError::TooManyRequests {
                retry_after_secs: wait.as_secs() + 1,
            }
        })
    }

    /// Counts a login attempt for an account (normalised email) from an address.
    pub fn login_attempt(&self, email: &str, addr: Option<IpAddr>) -> AppResult<()> {
        if let Some(addr) = addr {
            self.check(&self.per_address, &addr)?;
        }
        self.check(&self.per_account, &email.to_owned())
    }

    /// Counts an attempt that only has a client address to go by (pairing-code claims).
    pub fn address_attempt(&self, addr: Option<IpAddr>) -> AppResult<()> {
        match addr {
            Some(addr) => self.check(&self.per_address, &addr),
            None => Ok(()),
        }
    }

    /// Counts a password check by a signed-in account (password change), per account.
    pub fn account_attempt(&self, account_key: &str) -> AppResult<()> {
        self.check(&self.per_account, &account_key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_429_with_retry_after() {
        let t = Throttle::new(3, 100);
        for _ in 0..3 {
            assert!(t.login_attempt("a@example.jp", None).is_ok());
        }
        match t.login_attempt("a@example.jp", None) {
            Err(AppError::TooManyRequests { retry_after_secs }) => {
                assert!((1..=13).contains(&retry_after_secs))
            }
            other => panic!("expected 429, got {other:?}"),
        }
        // Another account is unaffected.
        assert!(t.login_attempt("b@example.jp", None).is_ok());
    }

    #[test]
    fn address_limit_spans_accounts() {
        let t = Throttle::new(100, 2);
        let addr: IpAddr = [192, 0, 2, 1].into();
        assert!(t.login_attempt("a@example.jp", Some(addr)).is_ok());
        assert!(t.login_attempt("b@example.jp", Some(addr)).is_ok());
        assert!(t.login_attempt("c@example.jp", Some(addr)).is_err());
    }
}
