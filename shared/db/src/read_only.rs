//! A read-only database (a standby during a failover, or `default_transaction_read_only` on)
//! is said twice, not once per write: when writes start being refused, and when they are
//! accepted again, with how long that lasted and how many writes were refused meanwhile.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Mutex,
};

use tokio::time::Instant;

use super::error::DbError;

/// Whether writes are being refused as read-only, since when, and how many.
#[derive(Default)]
pub(crate) struct ReadOnlySpell {
    /// Set while a spell lasts: a write that succeeds checks only this.
    on: AtomicBool,
    spell: Mutex<Option<Spell>>,
}

struct Spell {
    since: Instant,
    refused: u64,
}

impl ReadOnlySpell {
    /// A write was refused with `error` (read-only): the first of a spell is logged.
    pub(crate) fn refused(&self, error: &DbError) {
        let mut spell = self.spell.lock().unwrap_or_else(|e| e.into_inner());
        match spell.as_mut() {
            Some(spell) => spell.refused += 1,
            None => {
                *spell = Some(Spell {
                    since: Instant::now(),
                    refused: 1,
                });
                self.on.store(true, Ordering::Relaxed);
                log::warn!(
                    "the database refuses writes as read-only (a standby during a failover, or \
                     default_transaction_read_only on): {error}; writes are answered 503 with \
                     Retry-After and their connections renewed until it accepts them again"
                );
            }
        }
    }

    /// A write succeeded: the end of a spell, if one lasted, is logged.
    pub(crate) fn accepted(&self) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let ended = {
            let mut spell = self.spell.lock().unwrap_or_else(|e| e.into_inner());
            self.on.store(false, Ordering::Relaxed);
            spell.take()
        };
        if let Some(spell) = ended {
            log::info!(
                "the database accepts writes again, after {:.1} s read-only; {} writes were \
                 refused meanwhile and answered 503",
                spell.since.elapsed().as_secs_f64(),
                spell.refused
            );
        }
    }
}
