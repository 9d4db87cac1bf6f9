//! Data export: everything held about a resident, as a documented JSON document, a FHIR R4
//! `Bundle` or CSV, rendered chunk by chunk while it is read.
//!
//! The whole export reads one snapshot ([`crate::db::read_snapshot`]): the sections agree with
//! each other even while the resident keeps uploading. Long histories are read in keyset-paged
//! chunks and each chunk is rendered and handed on before the next is read, so memory does not
//! grow with the history. Every read has the resident in its `WHERE` clause. The route renders
//! into a spool file ([`spool`]) and sends it from there, so a slow client never holds a database
//! connection.

pub mod csv;
pub mod fhir;
pub mod json;
pub mod store;

use std::io::{self, Seek, Write};
use std::path::Path;

use crate::accounts;
use crate::db::{self, DbConn, Ts, UserId};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The documented JSON document ([`json::ExportDocument`]).
    Json,
    /// A FHIR R4 `Bundle` of type `collection`.
    Fhir,
    /// One row per measurement, one column per value field.
    Csv,
}

impl Format {
    /// Parses the `format` query value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "json" => Some(Format::Json),
            "fhir" => Some(Format::Fhir),
            "csv" => Some(Format::Csv),
            _ => None,
        }
    }

    /// The media type of the rendered document.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Fhir => "application/fhir+json",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The file-name extension offered for the download.
    pub fn file_extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Fhir => "fhir.json",
            Format::Csv => "csv",
        }
    }
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A database error.
    #[error(transparent)]
    Db(#[from] diesel::result::Error),
    /// Whoever was receiving the chunks stopped (the client went away).
    #[error("the receiver of the export went away")]
    Closed,
    /// A value could not be rendered (a bug).
    #[error("cannot render the export: {0}")]
    Render(String),
}

/// Size at which rendered bytes are handed on as one chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// Collects rendered bytes and hands them on in chunks of about [`CHUNK_BYTES`]. `send` returns
/// false once the receiver is gone; the export then stops.
pub struct Writer<'a> {
    buf: Vec<u8>,
    send: &'a mut dyn FnMut(Vec<u8>) -> bool,
    closed: bool,
}

impl<'a> Writer<'a> {
    /// A writer that hands its chunks to `send`.
    pub fn new(send: &'a mut dyn FnMut(Vec<u8>) -> bool) -> Self {
        Writer {
            buf: Vec::with_capacity(CHUNK_BYTES + 4096),
            send,
            closed: false,
        }
    }

    /// Hands on what has been rendered so far, if anything.
    pub fn send(&mut self) -> Result<(), ExportError> {
        if self.closed {
            return Err(ExportError::Closed);
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES + 4096));
        if (self.send)(chunk) {
            Ok(())
        } else {
            self.closed = true;
            Err(ExportError::Closed)
        }
    }

    /// Appends text.
    pub fn text(&mut self, s: &str) -> Result<(), ExportError> {
        io::Write::write_all(self, s.as_bytes()).map_err(|e| self.error(&e))
    }

    /// Appends a value as JSON.
    pub fn json<T: serde::Serialize>(&mut self, value: &T) -> Result<(), ExportError> {
        serde_json::to_writer(&mut *self, value).map_err(|e| self.error(&e))
    }

    fn error(&self, e: &dyn std::fmt::Display) -> ExportError {
        if self.closed {
            ExportError::Closed
        } else {
            ExportError::Render(e.to_string())
        }
    }
}

impl io::Write for Writer<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK_BYTES {
            self.send().map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Renders the export of `user` in `format` into `out`, reading one snapshot. The first chunk is
/// handed on once the account has been read, so a failure to reach the database or a vanished
/// account is known before anything is sent.
pub fn export(conn: &mut DbConn, user: UserId, format: Format, out: &mut Writer<'_>) -> Result<(), ExportError> {
    db::read_snapshot(conn, |c| {
        let profile = accounts::find(c, user)?;
        let now = Ts::now();
        match format {
            Format::Json => json::render(c, &profile, now, out)?,
            Format::Fhir => fhir::render(c, &profile, now, out)?,
            Format::Csv => csv::render(c, &profile, out)?,
        }
        out.send()
    })
}

/// Why an export could not be spooled.
#[derive(Debug, thiserror::Error)]
pub enum SpoolFailure {
    /// Reading or rendering failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// The export is larger than the spool may grow.
    #[error("the export is larger than {0} bytes")]
    TooLarge(u64),
    /// The spool file could not be made or written (e.g. the disk is full).
    #[error("cannot write the export's spool file: {0}")]
    Io(#[from] io::Error),
}

/// An export rendered whole into a spool file, rewound to its start.
#[derive(Debug)]
pub struct Spooled {
    /// The file: unnamed (the system removes it once closed, even after a crash), in `dir`.
    pub file: std::fs::File,
    /// Its length in bytes.
    pub len: u64,
}

/// Renders the export of `user` in `format` into an unnamed temporary file in `dir` (the system's
/// temporary directory by default), of at most `max_bytes`. The database connection is needed
/// only while this runs, at the database's and the disk's pace: the client's pace never holds it,
/// and memory does not grow with the history (one page of rows and one chunk at a time).
pub fn spool(
    conn: &mut DbConn,
    user: UserId,
    format: Format,
    dir: Option<&Path>,
    max_bytes: u64,
) -> Result<Spooled, SpoolFailure> {
    let mut file = match dir {
        Some(dir) => tempfile::tempfile_in(dir)?,
        None => tempfile::tempfile()?,
    };
    let mut len: u64 = 0;
    let mut failure: Option<SpoolFailure> = None;
    let rendered = {
        let mut send = |chunk: Vec<u8>| {
            let n = chunk.len() as u64;
            if len + n > max_bytes {
                failure = Some(SpoolFailure::TooLarge(max_bytes));
                return false;
            }
            if let Err(e) = file.write_all(&chunk) {
                failure = Some(SpoolFailure::Io(e));
                return false;
            }
            len += n;
            true
        };
        export(conn, user, format, &mut Writer::new(&mut send))
    };
    if let Some(f) = failure {
        return Err(f);
    }
    rendered?;
    file.flush()?;
    file.rewind()?;
    Ok(Spooled { file, len })
}
