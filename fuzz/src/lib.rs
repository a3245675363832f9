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

    /// The files of `dir` (relative to the workspace root), sorted by name.
    fn inputs(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A target that never failed has no regression folder.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => panic!("{}: {e}", dir.display()),
        };
        let mut files: Vec<PathBuf> = entries
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|file| {
                let bytes = std::fs::read(&file).expect("a readable input");
                (file, bytes)
            })
            .collect()
    }

    /// Every file of `dir` through `check`; how many there were.
    fn replay(dir: &str, check: fn(&[u8])) -> usize {
        let inputs = inputs(dir);
        for (file, bytes) in &inputs {
            let outcome = std::panic::catch_unwind(|| check(bytes));
            assert!(outcome.is_ok(), "{} breaks a promise", file.display());
        }
        inputs.len()
    }

    /// The tokens of `fuzz/fuzz.dict`, unescaped as libFuzzer reads them (`\\`, `\"`, `\xHH`).
    fn dictionary() -> Vec<Vec<u8>> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz.dict");
        let text = std::fs::read_to_string(path).expect("the dictionary");
        text.lines()
            .filter_map(|line| {
                let quoted = line.split_once('"')?.1.strip_suffix('"')?.as_bytes();
                let mut token = Vec::new();
                let mut i = 0;
                while i < quoted.len() {
                    match (quoted[i], quoted.get(i + 1)) {
                        (b'\\', Some(b'x')) => {
                            let hex = std::str::from_utf8(quoted.get(i + 2..i + 4)?).ok()?;
                            token.push(u8::from_str_radix(hex, 16).ok()?);
                            i += 4;
                        }
                        (b'\\', Some(&escaped)) => {
                            token.push(escaped);
                            i += 2;
                        }
                        (byte, _) => {
                            token.push(byte);
                            i += 1;
                        }
                    }
                }
                Some(token)
            })
            .collect()
    }

    /// `input` changed the way libFuzzer's simplest mutators change it: a byte flipped, a range
    /// cut out or repeated, a dictionary token inserted, the tail dropped, another input spliced.
    fn mutate(rng: &mut fastrand::Rng, input: &[u8], other: &[u8], tokens: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = input.to_vec();
        for _ in 0..rng.usize(1..=4) {
            let at = rng.usize(0..=bytes.len());
            let end = rng.usize(at..=bytes.len());
            match rng.u8(0..6) {
                0 if at < bytes.len() => bytes[at] ^= 1 << rng.u8(0..8),
                1 => drop(bytes.drain(at..end)),
                2 => {
                    let range = bytes[at..end].to_vec();
                    bytes.splice(at..at, range);
                }
                3 => {
                    let token = &tokens[rng.usize(0..tokens.len())];
                    bytes.splice(at..at, token.iter().copied());
                }
                4 => bytes.truncate(at),
                _ => {
                    let from = rng.usize(0..=other.len());
                    bytes.splice(at..end, other[from..].iter().copied());
                }
            }
        }
        bytes
    }

    /// Unguided, deterministic mutations of every seed through `check`: far weaker than
    /// cargo-fuzz, but it runs in every `cargo test` at the cost of a few seconds.
    fn mutate_seeds(dir: &str, check: fn(&[u8]), per_seed: usize) {
        let seeds = inputs(dir);
        let tokens = dictionary();
        let mut rng = fastrand::Rng::with_seed(0x8a17_f022);
        for (file, seed) in &seeds {
            for _ in 0..per_seed {
                let other = &seeds[rng.usize(0..seeds.len())].1;
                let input = mutate(&mut rng, seed, other, &tokens);
                let outcome = std::panic::catch_unwind(|| check(&input));
                assert!(
                    outcome.is_ok(),
                    "a mutation of {} breaks a promise: {:?}",
                    file.display(),
                    String::from_utf8_lossy(&input)
                );
            }
        }
    }

    #[test]
    fn mutations_of_the_seeds_keep_every_promise() {
        mutate_seeds("tests/fixtures/insider", super::payload::check, 500);
        mutate_seeds("fuzz/seeds/token", super::token::check, 1000);
        mutate_seeds("fuzz/seeds/management", super::management::check, 1000);
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
