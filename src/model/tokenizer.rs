//! OpenCLIP tokenizer, bit-exact with `open_clip.tokenize` (open_clip_torch 2.22.0).
//!
//! Pipeline (open_clip `tokenizer.py`):
//! 1. text cleaning: `ftfy.fix_text`, `html.unescape` twice, strip, collapse whitespace
//!    runs to one space, lower-case ([`text_clean::clean_prompt`]);
//! 2. CLIP byte-level BPE with `bpe_simple_vocab_16e6.txt` (48 894 merges, vocab 49 408):
//!    done by `instant-clip-tokenizer`, which bundles the same vocabulary and uses the
//!    same word-splitting pattern
//!    (`<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`);
//! 3. `[49406] + ids + [49407]`, zero-padded to 77; when longer than 77 it is cut to 77
//!    and the last id is forced to 49407.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use instant_clip_tokenizer::{Token, Tokenizer};

mod atom;
mod ftfy_data;
mod html;
mod mojibake;
pub mod text_clean;

/// Number of tokens the text encoder takes (open_clip `context_length`).
pub const CONTEXT_LENGTH: usize = 77;
/// `<start_of_text>` id.
pub const SOT_TOKEN: i64 = 49406;
/// `<end_of_text>` id.
pub const EOT_TOKEN: i64 = 49407;
/// Vocabulary size of the CLIP BPE (including the two special tokens).
pub const VOCAB_SIZE: u16 = 49408;

/// Errors from building a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The vocabulary file could not be opened or read.
    #[error("cannot read the BPE vocabulary file {}: {source}", path.display())]
    VocabRead {
        /// The file that was read.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The vocabulary file is not in the `bpe_simple_vocab_16e6.txt` format.
    #[error(
        "{} is not a CLIP BPE merges file (expected the un-gzipped bpe_simple_vocab_16e6.txt): {source}",
        path.display()
    )]
    VocabFormat {
        /// The file that was parsed.
        path: PathBuf,
        /// What the parser reported.
        #[source]
        source: std::io::Error,
    },
}

/// The OpenCLIP / CLIP text tokenizer.
///
/// Creating one parses ~49k merge rules (a few tens of milliseconds): build it once and
/// reuse it.
pub struct ClipTokenizer {
    bpe: Tokenizer,
}

impl std::fmt::Debug for ClipTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipTokenizer").finish_non_exhaustive()
    }
}

impl ClipTokenizer {
    /// Tokenizer with the vocabulary bundled in the binary (`bpe_simple_vocab_16e6`, the
    /// file open_clip ships).
    ///
    /// # Errors
    /// Currently never fails; the `Result` keeps the signature stable for file-based
    /// vocabularies.
    pub fn new() -> Result<Self, TokenizerError> {
        Ok(Self { bpe: Tokenizer::new() })
    }

    /// Tokenizer from an un-gzipped `bpe_simple_vocab_16e6.txt`-style merges file.
    ///
    /// # Errors
    /// [`TokenizerError::VocabRead`] if the file cannot be opened,
    /// [`TokenizerError::VocabFormat`] if it is not a merges file.
    pub fn from_vocab_file(path: &Path) -> Result<Self, TokenizerError> {
        let file = File::open(path).map_err(|source| TokenizerError::VocabRead { path: path.to_owned(), source })?;
        let bpe = Tokenizer::with_vocabulary(BufReader::new(file), VOCAB_SIZE)
            .map_err(|source| TokenizerError::VocabFormat { path: path.to_owned(), source })?;
        Ok(Self { bpe })
    }

    /// The cleaned text that is fed to BPE (what open_clip sees after ftfy, HTML
    /// unescaping, whitespace collapsing and lower-casing).
    pub fn clean(text: &str) -> String {
        text_clean::clean_prompt(text)
    }

    /// BPE ids of the cleaned text, without `<start_of_text>` / `<end_of_text>` and
    /// without truncation.
    pub fn encode_ids(&self, text: &str) -> Vec<i64> {
        let cleaned = text_clean::clean_prompt(text);
        let mut tokens: Vec<Token> = Vec::with_capacity(cleaned.len());
        self.bpe.encode(&cleaned, &mut tokens);
        tokens.into_iter().map(|t| i64::from(t.to_u16())).collect()
    }

    /// `open_clip.tokenize(text)[0]`.
    ///
    /// # Shapes
    /// Returns `[CONTEXT_LENGTH]` = `[77]` int64 ids: SOT, ids, EOT, zeros.
    pub fn encode(&self, text: &str) -> [i64; CONTEXT_LENGTH] {
        let ids = self.encode_ids(text);
        let mut out = [0i64; CONTEXT_LENGTH];
        out[0] = SOT_TOKEN;
        let n = ids.len().min(CONTEXT_LENGTH - 1);
        out[1..=n].copy_from_slice(&ids[..n]);
        if n + 1 < CONTEXT_LENGTH {
            out[n + 1] = EOT_TOKEN;
        } else {
            out[CONTEXT_LENGTH - 1] = EOT_TOKEN;
        }
        out
    }

    /// `open_clip.tokenize(texts)`, row-major.
    ///
    /// # Shapes
    /// Returns `[texts.len() * 77]` ids, i.e. a `[B, 77]` matrix.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Vec<i64> {
        texts.iter().flat_map(|t| self.encode(t.as_ref())).collect()
    }

    /// How many BPE tokens the prompt has (without SOT/EOT) and whether it will be
    /// truncated (more than 75 of them), e.g. for a "42 / 75 tokens" hint in a UI.
    pub fn count_tokens(&self, text: &str) -> (usize, bool) {
        let n = self.encode_ids(text).len();
        (n, n > CONTEXT_LENGTH - 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok() -> ClipTokenizer {
        match ClipTokenizer::new() {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn empty_prompt() {
        let ids = tok().encode("");
        assert_eq!(ids[0], SOT_TOKEN);
        assert_eq!(ids[1], EOT_TOKEN);
        assert!(ids[2..].iter().all(|&x| x == 0));
    }

    #[test]
    fn known_ids() {
        // instant-clip-tokenizer's own reference values
        assert_eq!(tok().encode_ids("Hi there"), vec![1883, 997]);
        assert_eq!(tok().encode_ids("A person riding a motorcycle"), vec![320, 2533, 6765, 320, 10297]);
    }

    #[test]
    fn truncation_forces_eot() {
        let long = "word ".repeat(200);
        let t = tok();
        let ids = t.encode(&long);
        assert_eq!(ids[0], SOT_TOKEN);
        assert_eq!(ids[76], EOT_TOKEN);
        assert!(ids[1..76].iter().all(|&x| x != 0 && x != EOT_TOKEN));
        assert_eq!(t.count_tokens(&long), (200, true));
        // exactly 75 ids fit without truncation
        let exact = "word ".repeat(75);
        let ids = t.encode(&exact);
        assert_eq!(ids[76], EOT_TOKEN);
        assert_eq!(t.count_tokens(&exact), (75, false));
    }

    #[test]
    fn batch_layout() {
        let t = tok();
        let b = t.encode_batch(&["a", ""]);
        assert_eq!(b.len(), 2 * CONTEXT_LENGTH);
        assert_eq!(&b[77..79], &[SOT_TOKEN, EOT_TOKEN]);
    }

    #[test]
    fn missing_vocab_file_is_reported() {
        let err = ClipTokenizer::from_vocab_file(Path::new("/nonexistent/bpe.txt"));
        match err {
            Err(e) => assert!(e.to_string().contains("/nonexistent/bpe.txt")),
            Ok(_) => panic!("expected an error"),
        }
    }
}
