//! A claim check: where an event's raw fragment is kept when it is too large to keep beside the
//! event itself.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawRef {
    /// `s3://<bucket>/<key>`.
    pub uri: String,
    /// SHA-256 of the fragment's bytes, hex: what a reader checks what it fetched against.
    pub sha256: String,
    pub bytes: u64,
}
