//! `kefu backup`: a consistent copy of the SQLite database, taken while kefu may be serving.
//!
//! `vacuum into` reads the database in one read transaction (a snapshot: in WAL mode the
//! writer goes on meanwhile, and the copy holds exactly the transactions committed before it
//! began) and writes a compact database. SQLite's online backup API would do as well but
//! restarts from the beginning whenever a write lands during the copy, which on a busy kefu
//! may be never done. SQLite does not sync the file `vacuum into` writes, and an interrupted
//! copy is half a database, so the copy is written beside PATH under a temporary name,
//! synced, and only then linked into place: PATH never holds half a copy, and an existing
//! file at PATH is never replaced.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists; kefu backup never overwrites a file, so give it a new path")]
    Exists(PathBuf),
    #[error("there is no database at {0} to back up (check KEFU_DATABASE_URL or KEFU_DATA_DIR)")]
    NoDatabase(PathBuf),
    #[error("the directory {0} for the backup does not exist")]
    NoDirectory(PathBuf),
    #[error("KEFU_DATABASE_URL is not a SQLite database URL kefu can back up: {0}")]
    BadUrl(sqlx::Error),
    #[error("cannot read the database {path}: {source}")]
    Read { path: PathBuf, source: sqlx::Error },
    #[error("cannot write the backup {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the copy at {path} cannot be read back: {source}")]
    Check { path: PathBuf, source: sqlx::Error },
}

/// What a backup wrote.
#[derive(Debug)]
pub struct Copied {
    /// messages in the copy, counted in the copy itself
    pub messages: i64,
    pub bytes: u64,
}

/// The database file a `sqlite:` URL names.
pub fn database_file(url: &str) -> Result<PathBuf, BackupError> {
    let options = SqliteConnectOptions::from_str(url).map_err(BackupError::BadUrl)?;
    Ok(options.get_filename().to_owned())
}

/// Copies the database at `url` to `dest`, which must not exist yet.
pub async fn backup(url: &str, dest: &Path) -> Result<Copied, BackupError> {
    let source = database_file(url)?;
    if dest.symlink_metadata().is_ok() {
        return Err(BackupError::Exists(dest.to_owned()));
    }
    if !source.is_file() {
        return Err(BackupError::NoDatabase(source));
    }
    let dir = match dest.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => return Err(BackupError::Exists(dest.to_owned())),
    };
    if !dir.is_dir() {
        return Err(BackupError::NoDirectory(dir.to_owned()));
    }
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "kefu-backup".to_owned());
    // a random suffix so two backups into one folder never share a temporary file (the store
    // layer asks `rand` directly rather than borrowing the accounts service's secret maker)
    let partial = dir.join(format!(".{name}.partial-{:016x}", rand::random::<u64>()));
    let outcome = copy_into(url, &source, &partial, dest, dir).await;
    // whatever happened, no temporary file stays behind
    let _ = std::fs::remove_file(&partial);
    outcome
}

async fn copy_into(
    url: &str,
    source: &Path,
    partial: &Path,
    dest: &Path,
    dir: &Path,
) -> Result<Copied, BackupError> {
    let read = |e| BackupError::Read {
        path: source.to_owned(),
        source: e,
    };
    let write = |e| BackupError::Write {
        path: dest.to_owned(),
        source: e,
    };
    let mut conn = SqliteConnectOptions::from_str(url)
        .map_err(BackupError::BadUrl)?
        .create_if_missing(false)
        .busy_timeout(Duration::from_secs(10))
        .disable_statement_logging()
        .connect()
        .await
        .map_err(read)?;
    let path = partial
        .to_str()
        .ok_or_else(|| write(std::io::Error::other("the path is not valid UTF-8")))?;
    sqlx::query("vacuum into $1")
        .bind(path)
        .execute(&mut conn)
        .await
        .map_err(read)?;
    conn.close().await.map_err(read)?;

    let messages = count_messages(partial)
        .await
        .map_err(|e| BackupError::Check {
            path: dest.to_owned(),
            source: e,
        })?;
    let file = std::fs::File::open(partial).map_err(write)?;
    // the copy holds what the database holds (password hashes, the WeChat access token):
    // for its owner only, wherever it is written
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(write)?;
    }
    file.sync_all().map_err(write)?;
    let bytes = file.metadata().map_err(write)?.len();
    drop(file);
    // a hard link fails when `dest` exists (a rename would replace it)
    match std::fs::hard_link(partial, dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(dest.to_owned()));
        }
        // a filesystem without hard links
        Err(_) if dest.symlink_metadata().is_err() => {
            std::fs::rename(partial, dest).map_err(write)?;
        }
        Err(_) => return Err(BackupError::Exists(dest.to_owned())),
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Copied { messages, bytes })
}

/// Counts the messages in a copy, opened read-only.
async fn count_messages(copy: &Path) -> sqlx::Result<i64> {
    let mut conn = SqliteConnectOptions::new()
        .filename(copy)
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await?;
    let n = sqlx::query_scalar("select count(*) from messages")
        .fetch_one(&mut conn)
        .await;
    conn.close().await?;
    n
}
