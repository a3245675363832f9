//! What the fuzz targets check: each module's `check` takes any bytes and panics when one of the
//! promises of the code under test is broken, so that libFuzzer reports it as a crash. Not only
//! "no panic": the parser's, the verifier's and the validators' documented guarantees, each
//! checked against an oracle of its own.
//!
//! The same checks run in `cargo test` on the seed corpora and on every input that ever made
//! them fail (`fuzz/regressions/`), so a crash, once fixed, stays fixed.

pub mod management;
pub mod payload;
pub mod token;

use serde::de::IgnoredAny;

/// The bytes as JSON text per RFC 8259 (UTF-8, one value, nothing after it), judged by
/// serde_json's grammar alone: no limit on depth or on the size of numbers.
pub fn json_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    serde_json::from_str::<IgnoredAny>(text).ok().map(|_| text)
}

/// JSON's own whitespace, which is all that may come before a value.
pub fn trim_json_whitespace(text: &str) -> &str {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    /// Every file of `dir` (relative to the workspace root) through `check`.
    fn replay(dir: &str, check: fn(&[u8])) -> usize {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A target that never failed has no regression folder.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(e) => panic!("{}: {e}", dir.display()),
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        for file in &files {
            let bytes = std::fs::read(file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| check(&bytes));
            assert!(outcome.is_ok(), "{} breaks a promise", file.display());
        }
        files.len()
    }

    #[test]
    fn the_seeds_keep_every_promise() {
        assert!(replay("tests/fixtures/insider", super::payload::check) > 40);
        assert!(replay("fuzz/seeds/token", super::token::check) > 0);
        assert!(replay("fuzz/seeds/management", super::management::check) > 0);
    }

    #[test]
    fn every_input_that_once_broke_a_promise_keeps_them_now() {
        replay("fuzz/regressions/payload", super::payload::check);
        replay("fuzz/regressions/token", super::token::check);
        replay("fuzz/regressions/management", super::management::check);
    }
}
