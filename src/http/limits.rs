//! What one account may hold at once, so that no account can take the database from the others.
//!
//! - [`AccountGate`]: every authenticated request holds one of its account's few slots while it
//!   runs (and an export holds one while it reads the database). A request holds at most one pooled
//!   connection at a time, so an account can never hold more connections than it has slots —
//!   whatever route it calls and however many requests it sends. Requests beyond the slots wait
//!   their turn (not a connection) up to the database timeout, then answer 429.
//! - [`ExportSlots`]: concurrent exports per account, counted from the request until its answer
//!   has been sent or dropped (a client that stops reading keeps its slot until the server cuts
//!   it off); beyond the limit, 429 at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::db::UserId;
use crate::error::{AppError, AppResult};

/// How many map entries trigger a sweep of accounts that hold and await nothing.
const SWEEP_ABOVE: usize = 10_000;

/// Per-account slots for requests in flight.
pub struct AccountGate {
    per_account: usize,
    wait: Duration,
    slots: Mutex<HashMap<UserId, Arc<Semaphore>>>,
}

/// A held slot of an account's gate; freed when the last clone is dropped.
pub struct AccountPermit {
    _permit: OwnedSemaphorePermit,
}

impl std::fmt::Debug for AccountPermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccountPermit")
    }
}

impl AccountGate {
    /// A gate of `per_account` slots per account (at least one); a request waits at most `wait`.
    pub fn new(per_account: usize, wait: Duration) -> Self {
        AccountGate {
            per_account: per_account.max(1),
            wait,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Slots per account.
    pub fn per_account(&self) -> usize {
        self.per_account
    }

    fn semaphore(&self, user: UserId) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if slots.len() > SWEEP_ABOVE {
            // An entry nobody holds or awaits is referenced by the map alone.
            slots.retain(|_, s| Arc::strong_count(s) > 1);
        }
        slots
            .entry(user)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_account)))
            .clone()
    }

    /// Takes one of the account's slots, waiting for one at most the configured time; 429 after.
    pub async fn enter(&self, user: UserId) -> AppResult<Arc<AccountPermit>> {
        let semaphore = self.semaphore(user);
        match actix_web::rt::time::timeout(self.wait, semaphore.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Arc::new(AccountPermit { _permit: permit })),
            // Closed never happens (the semaphore is never closed); timed out: the account's own
            // requests are queueing.
            _ => Err(AppError::TooManyRequests { retry_after_secs: 1 }),
        }
    }
}

/// Concurrent exports per account.
pub struct ExportSlots {
    per_account: usize,
    retry_after_secs: u64,
    held: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One held export slot; freed on drop.
pub struct ExportSlot {
    user: UserId,
    held: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl Drop for ExportSlot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                held.remove(&self.user);
            }
        }
    }
}

impl ExportSlots {
    /// `per_account` concurrent exports per account (at least one); a refusal says to retry after
    /// `retry_after_secs`.
    pub fn new(per_account: usize, retry_after_secs: u64) -> Self {
        ExportSlots {
            per_account: per_account.max(1),
            retry_after_secs: retry_after_secs.max(1),
            held: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Takes an export slot of the account, or 429 when all are held.
    pub fn take(&self, user: UserId) -> AppResult<ExportSlot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let n = held.entry(user).or_default();
        if *n >= self.per_account {
            return Err(AppError::TooManyRequests {
                retry_after_secs: self.retry_after_secs,
            });
        }
        *n += 1;
        Ok(ExportSlot {
            user,
            held: Arc::clone(&self.held),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn an_account_waits_for_its_own_slots_and_others_are_not_held_up() {
        let gate = AccountGate::new(2, Duration::from_millis(100));
        let (a, b) = (UserId::new(), UserId::new());
        let first = gate.enter(a).await.unwrap();
        let _second = gate.enter(a).await.unwrap();
        assert!(matches!(gate.enter(a).await, Err(AppError::TooManyRequests { .. })));
        assert!(gate.enter(b).await.is_ok(), "another account has its own slots");
        drop(first);
        assert!(gate.enter(a).await.is_ok(), "a freed slot is taken");
    }

    #[test]
    fn exports_beyond_the_limit_are_refused_until_one_ends() {
        let slots = ExportSlots::new(2, 10);
        let a = UserId::new();
        let one = slots.take(a).unwrap();
        let _two = slots.take(a).unwrap();
        match slots.take(a) {
            Err(AppError::TooManyRequests { retry_after_secs }) => assert_eq!(retry_after_secs, 10),
            _ => panic!("expected 429"),
        }
        assert!(slots.take(UserId::new()).is_ok());
        drop(one);
        assert!(slots.take(a).is_ok());
    }
}
