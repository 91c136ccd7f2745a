//! How many request-body bytes the process holds at once. Decoding a body costs up to about
//! twice its size while it runs; with a budget, eight bodies at the limit arriving together
//! are admitted a few at a time, and the instance stays inside its memory (Cloud Run: 256 MiB
//! here) instead of being killed with every delivery in flight.

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Shared by every request of a server.
#[derive(Clone)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
    total: usize,
}

/// Room taken in the budget until dropped.
pub(crate) struct Reservation(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl BodyBudget {
    pub(crate) fn new(total: usize) -> Self {
        let total = total.clamp(1, u32::MAX as usize);
        Self {
            bytes: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Waits up to `wait` for room for `bytes` (a body larger than the whole budget takes all
    /// of it); None if there was none in time.
    pub(crate) async fn reserve(&self, bytes: usize, wait: Duration) -> Option<Reservation> {
        if bytes == 0 {
            return Some(Reservation(None));
        }
        let wanted = bytes.min(self.total) as u32;
        let acquire = self.bytes.clone().acquire_many_owned(wanted);
        match tokio::time::timeout(wait, acquire).await {
            Ok(Ok(permit)) => Some(Reservation(Some(permit))),
            _ => None,
        }
    }
}
