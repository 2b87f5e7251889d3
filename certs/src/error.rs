//! Errors of the test-PKI generator.

use std::path::PathBuf;

/// Why generating, loading or issuing from the test PKI failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// rcgen refused the parameters or failed to sign.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A DER structure we build or rewrite was not what we expected.
    #[error("DER encoding problem: {0}")]
    Der(String),
    /// Key generation or conversion failed.
    #[error("key problem: {0}")]
    Key(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The manifest or a CA database could not be read back.
    #[error("{path}: {detail}")]
    BadFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// A person or CA name that the catalogue does not know.
    #[error("unknown {what} {name:?}")]
    Unknown {
        /// "person" or "CA".
        what: &'static str,
        /// The name asked for.
        name: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches a path to an I/O error.
pub(crate) fn io_at(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
