//! `dead-letters`: the operator's tool for the messages ingest kept because they could never
//! succeed. List them, read one, replay them through ingest's own path after a fix, purge
//! old ones. It connects with the functions' own database settings, so it works against
//! `scripts/dev`'s database and against Cloud SQL (through the Auth Proxy or its socket).

mod render;

use std::{io::Write, time::Duration};

use clap::{Args, Parser, Subcommand};
use shared::db::{Database, DbError, DbErrorKind, LetterSelection, UserWriter};

use ingest::{replay, Replayed};

#[derive(Debug, Parser)]
#[command(
    name = "dead-letters",
    about = "List, show, replay and purge the messages ingest kept because they could never succeed",
    after_help = "The database is the one ingest uses, named the same way: PGHOST, PGPORT, PGUSER, \
                  PGPASSWORD or PGPASSWORD_FILE, PGDATABASE, PGSSLMODE (or DATABASE_URL).\n\
                  AGE is a duration such as 30m, 12h, 7d or \"2weeks\"."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List letters, oldest first: id, when kept, size, message id, reason.
    List {
        #[command(flatten)]
        filters: LetterFilters,
        /// Most letters to list.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one letter: the reason, attributes, and its payload decoded.
    Show {
        id: i64,
        /// As one JSON object (payload in base64, and as text when it is UTF-8).
        #[arg(long)]
        json: bool,
    },
    /// Deliver letters again through ingest's own path (validation, exactly once) after a fix.
    /// A letter that is stored now is removed; one that fails again stays, with its new reason.
    Replay(ChangingLetters),
    /// Remove letters for good.
    Purge(ChangingLetters),
}

/// The letters a command that changes them takes: an empty selection must be asked for.
#[derive(Debug, Args)]
pub struct ChangingLetters {
    #[command(flatten)]
    filters: LetterFilters,
    /// Every letter, when no id or filter is given.
    #[arg(long)]
    all: bool,
    /// Say which letters it would take, and change nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Which letters; every condition given must hold.
#[derive(Debug, Args)]
pub struct LetterFilters {
    /// Only these letters.
    #[arg(value_name = "ID")]
    ids: Vec<i64>,
    /// Only letters whose reason contains TEXT (ignoring case).
    #[arg(long, value_name = "TEXT")]
    reason: Option<String>,
    /// Only letters kept longer ago than AGE.
    #[arg(long, value_name = "AGE", value_parser = age)]
    older_than: Option<Duration>,
    /// Only letters kept within the last AGE.
    #[arg(long, value_name = "AGE", value_parser = age)]
    newer_than: Option<Duration>,
}

fn age(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (for example 30m, 12h, 7d)"))
}

impl LetterFilters {
    fn selection(&self) -> LetterSelection {
        LetterSelection {
            ids: self.ids.clone(),
            reason_contains: self.reason.clone(),
            older_than: self.older_than,
            newer_than: self.newer_than,
        }
    }
}

impl ChangingLetters {
    /// The selection, unless it is empty and `--all` was not given.
    fn chosen(&self, verb: &str) -> Result<LetterSelection, Failed> {
        let selection = self.filters.selection();
        if selection.is_everything() && !self.all {
            return Err(Failed::Usage(format!(
                "say which letters to {verb}: ids, --reason, --older-than, --newer-than, or --all"
            )));
        }
        Ok(selection)
    }
}

/// Why a command did not do all it was asked.
#[derive(Debug)]
pub enum Failed {
    /// The command line is incomplete (exit status 2).
    Usage(String),
    /// The database failed; nothing more was done (exit status 1).
    Database(String),
    /// Some letters were not replayed or found (exit status 1); the output says which.
    Partly(String),
}

impl From<DbError> for Failed {
    fn from(error: DbError) -> Self {
        Self::Database(error.to_string())
    }
}

impl From<std::io::Error> for Failed {
    fn from(error: std::io::Error) -> Self {
        Self::Database(format!("cannot write the output: {error}"))
    }
}

/// Runs `command` against `database`, writing what it did to `out`.
pub async fn execute(
    command: Command,
    database: &Database,
    out: &mut impl Write,
) -> Result<(), Failed> {
    match command {
        Command::List {
            filters,
            limit,
            json,
        } => {
            let letters = database
                .dead_letter_summaries(&filters.selection(), limit)
                .await?;
            render::list(out, &letters, json)?;
        }
        Command::Show { id, json } => match database.dead_letter(id).await? {
            Some(kept) => render::show(out, &kept, json)?,
            None => return Err(Failed::Partly(format!("there is no dead letter {id}"))),
        },
        Command::Replay(change) => {
            let ids = database.dead_letter_ids(&change.chosen("replay")?).await?;
            if change.dry_run {
                writeln!(out, "would replay {}: {}", ids.len(), render::ids(&ids))?;
            } else {
                replay_each(&ids, database, out).await?;
            }
        }
        Command::Purge(change) => {
            let selection = change.chosen("purge")?;
            if change.dry_run {
                let ids = database.dead_letter_ids(&selection).await?;
                writeln!(out, "would remove {}: {}", ids.len(), render::ids(&ids))?;
            } else {
                let removed = database.purge_dead_letters(&selection).await?;
                writeln!(out, "removed {}", letters(removed))?;
            }
        }
    }
    Ok(())
}

/// How many times a letter whose row another session holds is tried before the run gives up.
const BUSY_TRIES: u32 = 5;
/// The first pause after a busy try; each next one is twice as long (0.1 s to 1.6 s).
const BUSY_PAUSE: Duration = Duration::from_millis(100);

/// Replays letter `id`, trying again a few times while its row is held by another session
/// (a second replay of the same letters, or ingest storing the same user): that session
/// finishes in milliseconds, and an operator's run should not end on it.
async fn replay_when_free(
    id: i64,
    writer: &UserWriter,
    database: &Database,
) -> Result<Replayed, DbError> {
    let mut pause = BUSY_PAUSE;
    for _ in 1..BUSY_TRIES {
        match replay(id, writer, database).await {
            Err(error) if *error.kind() == DbErrorKind::Busy => {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            done => return done,
        }
    }
    replay(id, writer, database).await
}

/// Replays one letter at a time, oldest first, and says what became of each.
async fn replay_each(ids: &[i64], database: &Database, out: &mut impl Write) -> Result<(), Failed> {
    let writer = UserWriter::new(database.clone());
    let (mut stored, mut superseded, mut before, mut again, mut missing) = (0, 0, 0, 0, 0);
    for &id in ids {
        match replay_when_free(id, &writer, database).await {
            Ok(Replayed::Stored) => {
                stored += 1;
                writeln!(out, "{id}: stored; letter removed")?;
            }
            Ok(Replayed::Superseded) => {
                superseded += 1;
                writeln!(
                    out,
                    "{id}: older than its user's latest update, nothing changed; letter removed"
                )?;
            }
            Ok(Replayed::AlreadyStored) => {
                before += 1;
                writeln!(out, "{id}: had been stored before; letter removed")?;
            }
            Ok(Replayed::FailedAgain { reason }) => {
                again += 1;
                writeln!(
                    out,
                    "{id}: failed again: {}",
                    render::one_line(&reason, 300)
                )?;
            }
            // It was there when this run chose it: another replay or a purge took it since,
            // which is what this run wanted too.
            Ok(Replayed::NotFound) => {
                missing += 1;
                writeln!(
                    out,
                    "{id}: already gone (another replay or a purge took it)"
                )?;
            }
            Err(error) => {
                return Err(Failed::Database(format!(
                    "{id}: not replayed, nothing changed; try again later: {}",
                    error
                )))
            }
        }
    }
    writeln!(
        out,
        "replayed {}: {stored} stored, {superseded} superseded, {before} stored before, {again} failed again, {missing} already gone",
        ids.len()
    )?;
    if again > 0 {
        return Err(Failed::Partly(format!(
            "{again} of {} failed again; they stay, with their new reason",
            letters(ids.len() as u64)
        )));
    }
    Ok(())
}

/// "1 dead letter", "2 dead letters".
fn letters(count: u64) -> String {
    match count {
        1 => "1 dead letter".into(),
        _ => format!("{count} dead letters"),
    }
}
