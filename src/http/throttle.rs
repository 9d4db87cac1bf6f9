//! Throttles (governor's GCRA rate limiters), keyed per account, per client address, or both.
//!
//! - **Login**: every attempt counts. Per account *and* client address a burst of 5 (refilled one
//!   per 12 s) stops password guessing without letting a guesser lock the owner out: their
//!   failures use up the budget of *their* address only. A looser budget per account over every
//!   address (50, refilled one per 6 s: faster than one address can spend it) bounds guessing
//!   spread over many addresses. Per address, 30 (one per second) stops one client spraying many
//!   accounts.
//! - **Registration**: every attempt counts per client address (20, one per 30 s), so probing which
//!   emails hold an account (409) is slow.
//! - **Guesses of codes**: wrong enrollment codes, event check-in codes, pairing codes and app
//!   credentials (answers 401, 404 and 422 of those routes) count per client address and route
//!   (10, one per 6 s). Only failures count: a
//!   venue where hundreds check in with the right code from one address is never throttled, while
//!   guessing is. Once the budget is spent, every attempt from that address to that route is 429
//!   until it refills.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::http::Method;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::{AppError, AppResult};

/// Keyed limiters above this many keys are pruned of keys that are back at full burst.
const PRUNE_ABOVE: usize = 100_000;

/// Bursts of the throttles (each refills at its own fixed pace, see the module documentation).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Login attempts per account from one client address.
    pub login_per_account: u32,
    /// Login attempts per account from every address together.
    pub login_per_account_total: u32,
    /// Login attempts per client address, whatever the account.
    pub login_per_address: u32,
    /// Registrations per client address.
    pub registrations_per_address: u32,
    /// Wrong codes (or app credentials) per client address and route.
    pub guesses_per_address: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login_per_account: 5,
            login_per_account_total: 50,
            login_per_address: 30,
            registrations_per_address: 20,
            guesses_per_address: 10,
        }
    }
}

/// What a guess is of: each route keeps its own budget per address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guess {
    /// `POST /v1/me/memberships`: an enrollment code.
    EnrollmentCode,
    /// `POST /v1/events/check-in`: an event's check-in code.
    CheckInCode,
    /// `POST /v1/pairing/claim`: a pairing code (and, with them, a kiosk's credentials).
    PairingCode,
    /// `POST /v1/apps/claim`: a pairing code and an app's credentials.
    AppClaim,
}

/// A route throttled per client address before it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Registration: every attempt counts.
    Registration,
    /// A route that takes a code: failures count.
    Guess(Guess),
}

/// The routes throttled per client address, in one table.
pub fn guarded(method: &Method, path: &str) -> Option<Guarded> {
    if method != Method::POST {
        return None;
    }
    match path {
        "/v1/auth/register" => Some(Guarded::Registration),
        "/v1/me/memberships" => Some(Guarded::Guess(Guess::EnrollmentCode)),
        "/v1/events/check-in" => Some(Guarded::Guess(Guess::CheckInCode)),
        "/v1/pairing/claim" => Some(Guarded::Guess(Guess::PairingCode)),
        "/v1/apps/claim" => Some(Guarded::Guess(Guess::AppClaim)),
        _ => None,
    }
}

/// The service's throttles.
pub struct Throttle {
    login_pair: DefaultKeyedRateLimiter<(String, Option<IpAddr>)>,
    login_account: DefaultKeyedRateLimiter<String>,
    login_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Password checks of a signed-in account (password change, erasure).
    account: DefaultKeyedRateLimiter<String>,
    registrations: DefaultKeyedRateLimiter<IpAddr>,
    guesses: DefaultKeyedRateLimiter<(Guess, IpAddr)>,
    /// Addresses whose guesses are refused until the instant given (their budget is spent).
    blocked: Mutex<HashMap<(Guess, IpAddr), Instant>>,
    clock: DefaultClock,
}

fn quota(burst: u32, every: Duration) -> Quota {
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::with_period(every)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(burst)
}

fn too_many(wait: Duration) -> AppError {
    AppError::TooManyRequests {
        retry_after_secs: wait.as_secs() + 1,
    }
}

impl Throttle {
    /// Throttles with the given login bursts per account (and address) and per client address;
    /// the other limits at their defaults.
    pub fn new(burst_per_account: u32, burst_per_address: u32) -> Self {
        Self::with_limits(Limits {
            login_per_account: burst_per_account,
            login_per_address: burst_per_address,
            ..Limits::default()
        })
    }

    /// Throttles with the given bursts.
    pub fn with_limits(l: Limits) -> Self {
        Throttle {
            login_pair: RateLimiter::keyed(quota(l.login_per_account, Duration::from_secs(12))),
            login_account: RateLimiter::keyed(quota(l.login_per_account_total, Duration::from_secs(6))),
            login_address: RateLimiter::keyed(quota(l.login_per_address, Duration::from_secs(1))),
            account: RateLimiter::keyed(quota(l.login_per_account, Duration::from_secs(12))),
            registrations: RateLimiter::keyed(quota(l.registrations_per_address, Duration::from_secs(30))),
            guesses: RateLimiter::keyed(quota(l.guesses_per_address, Duration::from_secs(6))),
            blocked: Mutex::new(HashMap::new()),
            clock: DefaultClock::default(),
        }
    }

    fn check<K: std::hash::Hash + Eq + Clone>(&self, limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> AppResult<()> {
        if limiter.len() > PRUNE_ABOVE {
            limiter.retain_recent();
        }
        limiter
            .check_key(key)
            .map_err(|not_until| too_many(not_until.wait_time_from(self.clock.now())))
    }

    /// Counts a login attempt for an account (normalised email) from an address: per address, per
    /// account from that address, then per account from anywhere. A budget that refuses stops the
    /// later ones from being spent, so a guesser throttled at their address costs the account's
    /// overall budget nothing more.
    pub fn login_attempt(&self, email: &str, addr: Option<IpAddr>) -> AppResult<()> {
        if let Some(addr) = addr {
            self.check(&self.login_address, &addr)?;
        }
        self.check(&self.login_pair, &(email.to_owned(), addr))?;
        self.check(&self.login_account, &email.to_owned())
    }

    /// Counts a registration from an address.
    pub fn registration_attempt(&self, addr: Option<IpAddr>) -> AppResult<()> {
        match addr {
            Some(addr) => self.check(&self.registrations, &addr),
            None => Ok(()),
        }
    }

    /// 429 while the address has spent its budget of wrong guesses on this route.
    pub fn guess_allowed(&self, kind: Guess, addr: Option<IpAddr>) -> AppResult<()> {
        let Some(addr) = addr else { return Ok(()) };
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match blocked.get(&(kind, addr)) {
            Some(until) if *until > now => Err(too_many(*until - now)),
            Some(_) => {
                blocked.remove(&(kind, addr));
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a wrong guess from an address; once the budget is spent, the address is refused on
    /// this route until it refills.
    pub fn guess_failed(&self, kind: Guess, addr: Option<IpAddr>) {
        let Some(addr) = addr else { return };
        if let Err(AppError::TooManyRequests { retry_after_secs }) = self.check(&self.guesses, &(kind, addr)) {
            let mut blocked = self.blocked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = Instant::now();
            if blocked.len() > PRUNE_ABOVE {
                blocked.retain(|_, until| *until > now);
            }
            blocked.insert((kind, addr), now + Duration::from_secs(retry_after_secs));
        }
    }

    /// Counts a password check by a signed-in account (password change, erasure), per account.
    pub fn account_attempt(&self, account_key: &str) -> AppResult<()> {
        self.check(&self.account, &account_key.to_owned())
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

    #[test]
    fn an_account_throttled_at_one_address_is_open_at_another_until_the_total_is_spent() {
        let t = Throttle::with_limits(Limits {
            login_per_account: 2,
            login_per_account_total: 5,
            ..Limits::default()
        });
        let (a, b): (IpAddr, IpAddr) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        assert!(t.login_attempt("a@example.jp", Some(a)).is_ok());
        assert!(t.login_attempt("a@example.jp", Some(a)).is_ok());
        assert!(t.login_attempt("a@example.jp", Some(a)).is_err());
        // The refused attempt did not spend the total: 3 left of 5.
        assert!(t.login_attempt("a@example.jp", Some(b)).is_ok());
        assert!(t.login_attempt("a@example.jp", Some(b)).is_ok());
        let c: IpAddr = [192, 0, 2, 3].into();
        assert!(t.login_attempt("a@example.jp", Some(c)).is_ok());
        let d: IpAddr = [192, 0, 2, 4].into();
        assert!(t.login_attempt("a@example.jp", Some(d)).is_err(), "the total is spent");
    }

    #[test]
    fn only_wrong_guesses_count_and_each_route_has_its_own_budget() {
        let t = Throttle::with_limits(Limits {
            guesses_per_address: 2,
            ..Limits::default()
        });
        let addr: IpAddr = [192, 0, 2, 9].into();
        for _ in 0..10 {
            assert!(
                t.guess_allowed(Guess::CheckInCode, Some(addr)).is_ok(),
                "right codes cost nothing"
            );
        }
        t.guess_failed(Guess::CheckInCode, Some(addr));
        t.guess_failed(Guess::CheckInCode, Some(addr));
        assert!(t.guess_allowed(Guess::CheckInCode, Some(addr)).is_ok());
        t.guess_failed(Guess::CheckInCode, Some(addr));
        assert!(matches!(
            t.guess_allowed(Guess::CheckInCode, Some(addr)),
            Err(AppError::TooManyRequests { .. })
        ));
        assert!(t.guess_allowed(Guess::EnrollmentCode, Some(addr)).is_ok());
        assert!(
            t.guess_allowed(Guess::CheckInCode, Some([192, 0, 2, 10].into()))
                .is_ok()
        );
    }
}
