//! What a failed database call means: its SQLSTATE, and whether trying again can help.
//!
//! Postgres classifies every error with a five-character SQLSTATE
//! (<https://www.postgresql.org/docs/15/errcodes-appendix.html>). Diesel 2.3 keeps the code to
//! itself: it maps a few codes to [`DatabaseErrorKind`] and reports every other one as
//! `Unknown`. So [`sqlstate`] takes the code from the kind where diesel gives one, and otherwise
//! from the primary message, which Postgres words the same way for each code (its English
//! wording: the server's `lc_messages` must be `C`, `POSIX` or an English locale, which
//! [`messages_are_english`] checks). A message this table does not know gives `None`, and
//! callers treat an unknown failure as transient: retried, never turned into a rejection.
//! See docs/designs/0003-database-failures.md.

use diesel::result::{DatabaseErrorKind, Error};

use crate::StoreError;

/// A Postgres SQLSTATE such as `22021`. Codes taken from a message are exact where the wording
/// belongs to one code, else the class's generic code (`22000`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlState(pub &'static str);

impl SqlState {
    /// The two-character class (`22`: data exception, `08`: connection exception, …).
    pub fn class(&self) -> &'static str {
        self.0.get(..2).unwrap_or("")
    }
}

impl std::fmt::Display for SqlState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// What the caller should do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The database is out of reach or momentarily unable to serve (connection lost, shutting
    /// down or starting, too many connections, out of memory or disk, serialisation failure,
    /// deadlock, a statement or lock timeout). The same work may succeed later: retry with
    /// backoff, or answer 503 with `Retry-After`.
    Transient,
    /// The data itself cannot be stored (class 22 data exception, 54 program limit exceeded,
    /// 23 integrity violation): the same work fails the same way every time.
    Data(SqlState),
    /// Not classified (a bug, or a message this table does not know). Never a rejection: a
    /// consumer retries it (and shows a stuck partition), a request answers 500.
    Unknown,
}

/// The SQLSTATE of a diesel error, when it came from Postgres and can be told.
pub fn sqlstate(error: &Error) -> Option<SqlState> {
    let Error::DatabaseError(kind, info) = error else {
        return None;
    };
    let code = match kind {
        DatabaseErrorKind::UniqueViolation => "23505",
        DatabaseErrorKind::ForeignKeyViolation => "23503",
        DatabaseErrorKind::NotNullViolation => "23502",
        DatabaseErrorKind::CheckViolation => "23514",
        DatabaseErrorKind::RestrictViolation => "23001",
        DatabaseErrorKind::ExclusionViolation => "23P01",
        DatabaseErrorKind::SerializationFailure => "40001",
        DatabaseErrorKind::ReadOnlyTransaction => "25006",
        // Diesel says ClosedConnection for class 08 and for any error after which the
        // connection is gone (an administrator's shutdown, 57P01, arrives this way).
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => "08000",
        _ => return from_message(info.message()),
    };
    Some(SqlState(code))
}

/// Classify a diesel error.
pub fn classify(error: &Error) -> Failure {
    match error {
        Error::DatabaseError(..) => match sqlstate(error) {
            Some(state) => classify_state(state),
            None => Failure::Unknown,
        },
        // Diesel could not even send the statement or read the answer over a broken connection.
        Error::BrokenTransactionManager => Failure::Transient,
        _ => Failure::Unknown,
    }
}

/// Classify a store error: pool checkouts and connection failures are transient.
pub fn classify_store(error: &StoreError) -> Failure {
    match error {
        StoreError::Pool(_) | StoreError::LookupPool(_) | StoreError::Connection(_) => {
            Failure::Transient
        }
        StoreError::Query(error) => classify(error),
        StoreError::Migration(_) | StoreError::Join(_) => Failure::Unknown,
    }
}

fn classify_state(state: SqlState) -> Failure {
    match (state.class(), state.0) {
        ("08" | "53", _) => Failure::Transient,
        (_, "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "57014" | "55P03") => {
            Failure::Transient
        }
        ("22" | "54" | "23", _) => Failure::Data(state),
        _ => Failure::Unknown,
    }
}

/// Postgres 15's primary messages (backend/utils/errcodes and the `ereport` calls that raise
/// them), first match wins. Substrings, not whole messages: the rest carries values.
const MESSAGES: &[(&str, &str)] = &[
    // Class 22: data exception.
    ("invalid byte sequence for encoding", "22021"),
    ("unsupported Unicode escape sequence", "22P05"),
    ("has no equivalent in encoding", "22P05"),
    ("invalid input syntax for type", "22P02"),
    ("value too long for type", "22001"),
    ("numeric field overflow", "22003"),
    ("out of range", "22003"),
    ("invalid escape string", "22025"),
    ("invalid regular expression", "2201B"),
    ("null character not permitted", "22P05"),
    // Class 54: program limit exceeded (btree row size, jsonb and row limits).
    ("index row size", "54000"),
    ("index row requires", "54000"),
    ("exceeds the maximum allowed", "54000"),
    ("total size of jsonb", "54000"),
    ("string too long to represent as jsonb string", "54000"),
    ("row is too big", "54000"),
    ("cannot have more than", "54011"),
    ("stack depth limit exceeded", "54001"),
    // Class 40, 55, 57: retry.
    ("deadlock detected", "40P01"),
    ("could not serialize access", "40001"),
    ("canceling statement due to statement timeout", "57014"),
    ("canceling statement due to user request", "57014"),
    ("canceling statement due to lock timeout", "55P03"),
    ("could not obtain lock", "55P03"),
    ("terminating connection due to administrator command", "57P01"),
    ("terminating connection because of crash of another server process", "57P02"),
    ("the database system is shutting down", "57P03"),
    ("the database system is starting up", "57P03"),
    ("the database system is in recovery mode", "57P03"),
    ("the database system is not yet accepting connections", "57P03"),
    // Class 53: insufficient resources.
    ("out of memory", "53200"),
    ("could not extend file", "53100"),
    ("No space left on device", "53100"),
    ("too many clients already", "53300"),
    ("remaining connection slots are reserved", "53300"),
    // Class 08, as libpq words a connection that went away mid-statement.
    ("server closed the connection unexpectedly", "08006"),
    ("no connection to the server", "08003"),
    ("could not receive data from server", "08006"),
    ("could not send data to server", "08006"),
    ("connection to server", "08006"),
];

fn from_message(message: &str) -> Option<SqlState> {
    MESSAGES.iter().find(|(needle, _)| message.contains(needle)).map(|(_, code)| SqlState(code))
}

/// Whether the server words its messages in English (`lc_messages` C, POSIX or `en…`), so that
/// [`sqlstate`] can read codes diesel does not give. If not, unknown failures are retried.
pub fn messages_are_english(conn: &mut diesel::PgConnection) -> Result<bool, Error> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        lc_messages: String,
    }
    let setting: Setting = diesel::sql_query("SHOW lc_messages").get_result(conn)?;
    let value = setting.lc_messages.to_ascii_lowercase();
    Ok(value.is_empty()
        || value == "c"
        || value.starts_with("c.")
        || value == "posix"
        || value.starts_with("en"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(message: &'static str) -> Error {
        Error::DatabaseError(DatabaseErrorKind::Unknown, Box::new(message.to_string()))
    }

    #[test]
    fn codes_come_from_the_kind_then_the_message() {
        let unique =
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, Box::new(String::new()));
        assert_eq!(sqlstate(&unique), Some(SqlState("23505")));
        let nul = unknown("invalid byte sequence for encoding \"UTF8\": 0x00");
        assert_eq!(sqlstate(&nul), Some(SqlState("22021")));
        let index = unknown(
            "index row size 2712 exceeds btree version 4 maximum 2704 for index \"users_user_name\"",
        );
        assert_eq!(sqlstate(&index), Some(SqlState("54000")));
        assert_eq!(sqlstate(&unknown("something new")), None);
        assert_eq!(sqlstate(&Error::NotFound), None);
    }

    #[test]
    fn data_errors_are_permanent_and_outages_transient() {
        assert_eq!(
            classify(&unknown("invalid byte sequence for encoding \"UTF8\": 0x00")),
            Failure::Data(SqlState("22021"))
        );
        assert_eq!(
            classify(&unknown("index row requires 9000 bytes")),
            Failure::Data(SqlState("54000"))
        );
        for outage in [
            "terminating connection due to administrator command",
            "the database system is shutting down",
            "deadlock detected",
            "canceling statement due to statement timeout",
            "could not extend file \"base/1/2\": No space left on device",
            "no connection to the server",
        ] {
            assert_eq!(classify(&unknown(outage)), Failure::Transient, "{outage}");
        }
        let closed =
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, Box::new(String::new()));
        assert_eq!(classify(&closed), Failure::Transient);
        let serialization =
            Error::DatabaseError(DatabaseErrorKind::SerializationFailure, Box::new(String::new()));
        assert_eq!(classify(&serialization), Failure::Transient);
        assert_eq!(classify(&unknown("relation \"nope\" does not exist")), Failure::Unknown);
        assert_eq!(classify(&Error::NotFound), Failure::Unknown);
    }
}
