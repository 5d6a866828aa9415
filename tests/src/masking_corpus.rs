//! The masking bypass corpus (`tests/masking-corpus/`): one case per file,
//! each a statement that must arrive masked or be refused.

use std::path::PathBuf;

use crate::workspace_dir;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(skip)]
    pub name: String,
    pub sql: String,
    /// "allowed" or "refused".
    pub expect: String,
    /// For refused cases: the use the refusal names.
    #[serde(rename = "use")]
    pub usage: Option<String>,
    /// The statement whose rows show the result (FETCH from a cursor, EXECUTE).
    pub fetch: Option<String>,
    pub note: Option<String>,
}

pub fn corpus_dir() -> PathBuf {
    workspace_dir().join("tests/masking-corpus")
}

/// Every case, in file name order.
pub fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir().join("cases"))
        .expect("reading the corpus")
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).expect("reading a case");
            let mut case: Case =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            case.name = file.file_stem().unwrap().to_string_lossy().into_owned();
            case
        })
        .collect()
}
