//! Fuzz harnesses: each function feeds arbitrary bytes to one parser of this crate (macro input,
//! the SQL lexer and checker, the migration file resolver). Each returns nothing and must never
//! panic or hang, whatever the bytes; errors are the expected outcome. Compiled only for
//! `cargo fuzz` (`--cfg fuzzing`, targets in `fuzz/`) and for this crate's tests, which run the
//! kept corpus and every former crash through the same functions on stable (fuzz/README.md).

use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Span, TokenStream};

use crate::migrations::{self, MigrationFile};
use crate::query::check;
use crate::query::input::{Mode, QueryInput, Source};
use crate::query::schema::Schema;
use crate::query::Env;

/// The schema the `sql_lexer` and `macro_input` harnesses check statements against.
const SCHEMA_SQL: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
    email TEXT UNIQUE, age INTEGER, score REAL, avatar BLOB, created TEXT NOT NULL);\n\
    CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), \
    title TEXT NOT NULL, body TEXT, published INTEGER NOT NULL DEFAULT 0) STRICT;\n\
    CREATE VIEW titles AS SELECT p.title, u.name FROM posts p JOIN users u ON u.id = p.user_id;";

/// A scratch directory of this process (and thread) under the system's temporary directory.
fn scratch_dir(what: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "hiqlite-fuzz-{what}-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ))
}

/// A directory removed when the thread that made it ends.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

thread_local! {
    static SCHEMA: Schema = Schema::build(&[MigrationFile {
        version: 1,
        name: "init".into(),
        path: PathBuf::from("0001_init.sql"),
        sql: SCHEMA_SQL.into(),
        checksum: migrations::checksum(SCHEMA_SQL),
    }])
    .expect("the fuzz schema builds");

    /// A crate directory with `migrations/0001_init.sql` holding [`SCHEMA_SQL`].
    static CRATE_DIR: ScratchDir = {
        let dir = scratch_dir("crate");
        let _ = std::fs::create_dir_all(dir.join("migrations"));
        let _ = std::fs::write(dir.join("migrations/0001_init.sql"), SCHEMA_SQL);
        ScratchDir(dir)
    };
}

/// The SQL lexer (`hiqlite_shared::lex`), parameter numbering (`hiqlite_shared::params`) and the
/// statement checker of `query!` (`query::check::describe`) on the input as SQL (lossy UTF-8).
pub fn sql_lexer(data: &[u8]) {
    let sql = String::from_utf8_lossy(data);
    let tokens = hiqlite_shared::lex::tokenize(&sql);
    for token in &tokens {
        // Callers slice the SQL by these ranges.
        assert!(
            sql.get(token.range.clone()).is_some(),
            "{token:?} in {sql:?}"
        );
    }
    let depths = hiqlite_shared::lex::depths(&tokens);
    let _ = hiqlite_shared::lex::after_with(&tokens, &depths);
    let _ = hiqlite_shared::params::numbering(&sql);
    SCHEMA.with(|schema| {
        let _ = check::describe(schema, &sql);
    });
}

/// The macro input parsers on the input as Rust tokens (lossy UTF-8): `query!` and its siblings
/// in every mode (expanded against a fixed schema when the input parses), `migrate!`, and the
/// derives (`HiqliteRow`, `HiqliteType`, `CacheName`).
pub fn macro_input(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(tokens) = TokenStream::from_str(&text) else {
        return;
    };
    for mode in [Mode::Query, Mode::QueryAs, Mode::Scalar] {
        for source in [Source::Inline, Source::File] {
            let Ok(input) = QueryInput::parse_from(tokens.clone(), mode, source) else {
                continue;
            };
            // Only inline SQL and the fixed schema: a path in the input would read files.
            if source == Source::Inline && input.migrations.is_none() {
                let env = CRATE_DIR.with(|dir| Env {
                    manifest_dir: dir.0.clone(),
                    migrations_dir: None,
                });
                let _ = crate::query::try_expand(&input, mode, &env);
            }
        }
    }
    let _ = crate::migrate_macro::parse(tokens.clone());
    if let Ok(derive) = syn::parse2::<syn::DeriveInput>(tokens) {
        let _ = crate::row::derive(&derive);
        let _ = crate::value_type::derive(&derive);
        let _ = crate::cache_name::derive(&derive);
    }
}

/// The migration file resolver (`migrations::resolve_dir`) and `migrate!`'s code generation on
/// a directory of files the input describes: `name NUL content NUL name NUL content ...`. Names
/// that cannot be a file name here (empty, `.`, `..`, with `/`) are skipped.
pub fn migrations(data: &[u8]) {
    let dir = scratch_dir("migrations");
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let mut parts = data.split(|&b| b == 0);
    while let (Some(name), content) = (parts.next(), parts.next()) {
        write_file(&dir, name, content.unwrap_or_default());
    }
    if let Ok(files) = migrations::resolve_dir(&dir) {
        for pair in files.windows(2) {
            assert!(pair[0].version < pair[1].version, "resolved out of order");
        }
        let _ = crate::migrate_macro::generate(&files, Span::call_site());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn write_file(dir: &Path, name: &[u8], content: &[u8]) {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::OsStr::from_bytes(name);
    if name.is_empty() || name == "." || name == ".." || name.as_bytes().contains(&b'/') {
        return;
    }
    let _ = std::fs::write(dir.join(name), content);
}

#[cfg(test)]
mod tests {
    //! The fuzz corpus (`fuzz/corpus/<target>/`) and every input that once failed
    //! (`fuzz/regressions/<target>/`) through the harnesses, on stable, in `cargo test`.

    fn run_dir(target: &str, harness: fn(&[u8])) {
        // The package's directory at run time (cargo sets it for the tests it runs), not the one
        // compiled in: a build reused from a clone elsewhere (a shared CARGO_TARGET_DIR) would
        // look in that clone.
        let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let root = manifest.join("../fuzz");
        let mut ran = 0;
        for kind in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(kind).join(target)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                // syn recurses once per level of nesting; an unoptimized build needs more stack
                // than a test thread's 2 MiB for inputs the (optimized) fuzzer ran on 8 MiB.
                let outcome = std::thread::Builder::new()
                    .stack_size(64 << 20)
                    .spawn(move || harness(&data))
                    .unwrap()
                    .join();
                assert!(outcome.is_ok(), "{} panicked", path.display());
                ran += 1;
            }
        }
        assert!(
            ran > 0,
            "no inputs for fuzz target {target} under {}",
            root.display()
        );
    }

    #[test]
    fn fuzz_corpus_sql_lexer() {
        run_dir("sql_lexer", super::sql_lexer);
    }

    #[test]
    fn fuzz_corpus_macro_input() {
        run_dir("macro_input", super::macro_input);
    }

    #[test]
    fn fuzz_corpus_migrations() {
        run_dir("migrations", super::migrations);
    }
}
