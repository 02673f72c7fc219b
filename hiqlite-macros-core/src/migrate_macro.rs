//! `migrate!()`: parse the input, resolve the directory, expand to an embedded
//! `hiqlite::migrate::Migrations`.
//!
//! `migrate!()` embeds the `migrations/` directory of the crate (or of its nearest ancestor that
//! has one); `migrate!("dir")` embeds exactly `dir`, relative to the crate's directory. Files are
//! read by the shared resolver ([`crate::migrations`]), so the versions, normalized SQL and
//! checksums baked into the binary are exactly what `Migrations::from_dir` computes at runtime.

use std::path::{Path, PathBuf};

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{ParseStream, Parser};
use syn::LitStr;

use crate::migrations::{self, MigrationFile, ResolveError, MIGRATIONS_ENV};

/// What was written between the parentheses of `migrate!(...)`.
pub struct MigrateInput {
    /// `migrate!("dir")`: the directory, relative to the crate's manifest directory.
    pub dir: Option<LitStr>,
}

// By hand: syn's `Debug` impls need its `extra-traits` feature.
impl std::fmt::Debug for MigrateInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrateInput")
            .field("dir", &self.dir.as_ref().map(LitStr::value))
            .finish()
    }
}

impl MigrateInput {
    /// Where errors about the input point: the literal, or the macro call.
    fn span(&self) -> Span {
        self.dir.as_ref().map_or_else(Span::call_site, LitStr::span)
    }
}

/// Parses `()`, `("dir")` or `("dir",)`.
pub fn parse(input: TokenStream) -> syn::Result<MigrateInput> {
    let parser = |stream: ParseStream<'_>| {
        if stream.is_empty() {
            return Ok(MigrateInput { dir: None });
        }
        let dir: LitStr = stream.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `migrate!()` or `migrate!(\"path/to/migrations\")`",
            )
        })?;
        let _: Option<syn::Token![,]> = stream.parse()?;
        if !stream.is_empty() {
            return Err(stream.error("`migrate!` takes at most one argument: the directory"));
        }
        Ok(MigrateInput { dir: Some(dir) })
    };
    parser.parse2(input)
}

/// The crate directory of the crate being compiled (cargo sets `CARGO_MANIFEST_DIR`).
pub fn manifest_dir() -> syn::Result<PathBuf> {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or_else(|| {
            syn::Error::new(
                Span::call_site(),
                "migrate!(): CARGO_MANIFEST_DIR is not set; build with cargo",
            )
        })
}

/// The directory `input` designates, from the crate directory `manifest_dir`: the argument,
/// else `env_dir` (the value of [`MIGRATIONS_ENV`], as `query!` uses it), else the crate's
/// `migrations/` or the nearest ancestor's.
pub fn resolve(
    input: &MigrateInput,
    manifest_dir: &Path,
    env_dir: Option<&str>,
) -> Result<PathBuf, ResolveError> {
    match (&input.dir, env_dir) {
        (Some(dir), _) => Ok(manifest_dir.join(dir.value())),
        (None, Some(dir)) => Ok(manifest_dir.join(dir)),
        (None, None) => migrations::find_dir(manifest_dir),
    }
}

/// Reads the migrations and generates the expression. A resolution error (no directory, a file
/// that cannot be read, a bad file name, a version used twice) becomes an error that names the
/// directory or the file.
pub fn expand(input: &MigrateInput, manifest_dir: &Path) -> syn::Result<TokenStream> {
    let error = |e: ResolveError| syn::Error::new(input.span(), format!("migrate!(): {e}"));
    let env_dir = std::env::var(MIGRATIONS_ENV).ok().filter(|v| !v.is_empty());
    let dir = resolve(input, manifest_dir, env_dir.as_deref()).map_err(error)?;
    let files = migrations::resolve_dir(&dir).map_err(error)?;
    generate(&files, input.span())
}

/// The `hiqlite::migrate::Migrations` expression embedding `files`.
///
/// Each file is also `include_bytes!`-ed by its absolute path, so cargo rebuilds the crate when
/// one changes. A *new* file in the directory is not seen by cargo: see the `migrate!` docs
/// (`cargo:rerun-if-changed` in a build script).
pub fn generate(files: &[MigrationFile], span: Span) -> syn::Result<TokenStream> {
    let mut tracked = Vec::with_capacity(files.len());
    let mut entries = Vec::with_capacity(files.len());
    for file in files {
        let absolute = file.path.to_str().ok_or_else(|| {
            syn::Error::new(
                span,
                format!(
                    "migrate!(): the path of {} is not valid UTF-8",
                    file.path.display()
                ),
            )
        })?;
        tracked.push(quote! { const _: &[u8] = ::core::include_bytes!(#absolute); });
        let version = file.version;
        let name = &file.name;
        let path = embedded_path(&file.path);
        let sql = &file.sql;
        let checksum = &file.checksum;
        entries.push(quote! {
            ::hiqlite::migrate::EmbeddedMigration {
                version: #version,
                name: #name,
                path: #path,
                sql: #sql,
                checksum: #checksum,
            }
        });
    }
    let env_name = MIGRATIONS_ENV;
    Ok(quote! {
        {
            #(#tracked)*
            // Read by rustc, so changing the variable rebuilds the crate.
            const _: ::core::option::Option<&str> = ::core::option_env!(#env_name);
            ::hiqlite::migrate::Migrations::__embedded(&[#(#entries),*])
        }
    })
}

/// How an embedded migration names its file in reports and errors: the directory's name and the
/// file name (`migrations/0001_init.sql`). A path relative to the crate (`../migrations/...`)
/// would depend on which crate of a workspace was built, an absolute one on the build machine.
pub fn embedded_path(path: &Path) -> String {
    let dir = path.parent().and_then(Path::file_name);
    match (
        dir.map(|d| d.to_string_lossy()),
        path.file_name().map(|f| f.to_string_lossy()),
    ) {
        (Some(dir), Some(file)) => format!("{dir}/{file}"),
        // `migrate!("..")`: the directory has no name of its own.
        (None, Some(file)) => file.into_owned(),
        _ => path.to_string_lossy().replace('\\', "/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crate_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("migrations")).unwrap();
        for (name, content) in files {
            std::fs::write(root.path().join("migrations").join(name), content).unwrap();
        }
        root
    }

    fn expand_str(input: &str, manifest_dir: &Path) -> syn::Result<String> {
        let input = parse(input.parse().unwrap())?;
        expand(&input, manifest_dir).map(|tokens| tokens.to_string())
    }

    #[test]
    fn parses_nothing_or_one_directory() {
        assert!(parse(quote!()).unwrap().dir.is_none());
        let input = parse(quote!("db/migrations")).unwrap();
        assert_eq!(input.dir.unwrap().value(), "db/migrations");
        assert!(parse(quote!("db/migrations",)).unwrap().dir.is_some());
        let err = parse(quote!(db)).unwrap_err().to_string();
        assert!(err.contains("expected `migrate!()`"), "{err}");
        let err = parse(quote!("a", "b")).unwrap_err().to_string();
        assert!(err.contains("at most one argument"), "{err}");
    }

    #[test]
    fn embeds_every_file_in_order_with_its_checksum() {
        let root = crate_with(&[
            ("0002_more.sql", "CREATE TABLE b (x);\r\n"),
            ("0001_init.sql", "CREATE TABLE a (x);\n"),
        ]);
        let out = expand_str("", root.path()).unwrap();
        let first = out.find("\"init\"").expect("init embedded");
        let second = out.find("\"more\"").expect("more embedded");
        assert!(first < second, "in version order: {out}");
        assert!(out.contains("version : 1u64"), "{out}");
        assert!(out.contains("version : 2u64"), "{out}");
        assert!(out.contains("path : \"migrations/0001_init.sql\""), "{out}");
        // Normalized text and its checksum, as the runtime resolver computes them.
        assert!(out.contains(r#"sql : "CREATE TABLE b (x);\n""#), "{out}");
        let checksum = migrations::checksum("CREATE TABLE b (x);\n");
        assert!(out.contains(&format!("checksum : \"{checksum}\"")), "{out}");
        // Each file is tracked by its absolute path.
        let tracked = root.path().join("migrations").join("0002_more.sql");
        assert!(
            out.contains(&format!("include_bytes ! (\"{}\")", tracked.display())),
            "{out}"
        );
        assert!(out.contains(":: hiqlite :: migrate :: Migrations :: __embedded"));
    }

    #[test]
    fn finds_the_directory_of_an_ancestor_and_shows_its_name() {
        let root = crate_with(&[("1_init.sql", "SELECT 1;")]);
        let member = root.path().join("crates/app");
        std::fs::create_dir_all(&member).unwrap();
        let out = expand_str("", &member).unwrap();
        // Shown by the directory's name, not relative to the member crate.
        assert!(out.contains("path : \"migrations/1_init.sql\""), "{out}");
    }

    #[test]
    fn an_explicit_directory_is_relative_to_the_crate() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("db/schema")).unwrap();
        std::fs::write(root.path().join("db/schema/7_seven.sql"), "SELECT 7;").unwrap();
        let out = expand_str("\"db/schema\"", root.path()).unwrap();
        assert!(out.contains("version : 7u64"), "{out}");
        assert!(out.contains("path : \"schema/7_seven.sql\""), "{out}");

        let err = expand_str("\"nowhere\"", root.path())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("migrate!(): cannot read"), "{err}");
        assert!(err.contains("nowhere"), "{err}");
    }

    #[test]
    fn the_directory_comes_from_the_argument_then_the_variable_then_the_ancestors() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("migrations")).unwrap();
        let crate_dir = root.path();
        let none = parse(quote!()).unwrap();
        let given = parse(quote!("db")).unwrap();
        assert_eq!(
            resolve(&none, crate_dir, None).unwrap(),
            crate_dir.join("migrations")
        );
        // The same variable query! reads: both then check and embed the same schema.
        assert_eq!(
            resolve(&none, crate_dir, Some("schema")).unwrap(),
            crate_dir.join("schema")
        );
        assert_eq!(
            resolve(&given, crate_dir, Some("schema")).unwrap(),
            crate_dir.join("db")
        );
    }

    #[test]
    fn resolution_errors_name_the_file() {
        let root = crate_with(&[("0001_init.sql", ""), ("init2.sql", "")]);
        let err = expand_str("", root.path()).unwrap_err().to_string();
        assert!(err.contains("init2.sql"), "{err}");
        assert!(err.contains("<version>_<name>.sql"), "{err}");

        let root = crate_with(&[("1_a.sql", ""), ("001_b.sql", "")]);
        let err = expand_str("", root.path()).unwrap_err().to_string();
        assert!(
            err.contains("1_a.sql") && err.contains("001_b.sql"),
            "{err}"
        );

        let lonely = tempfile::tempdir().unwrap();
        let err = expand_str("", lonely.path()).unwrap_err().to_string();
        assert!(err.contains("no `migrations/` directory"), "{err}");
    }

    #[test]
    fn an_empty_directory_embeds_no_migration() {
        let root = crate_with(&[]);
        let out = expand_str("", root.path()).unwrap();
        assert!(out.contains("__embedded (& [])"), "{out}");
    }

    #[test]
    fn embedded_paths_are_the_directory_and_file_name() {
        let shown = |p: &str| embedded_path(Path::new(p));
        assert_eq!(
            shown("/work/app/../migrations/1_a.sql"),
            "migrations/1_a.sql"
        );
        assert_eq!(shown("/work/app/db/schema/1_a.sql"), "schema/1_a.sql");
        assert_eq!(shown("1_a.sql"), "1_a.sql");
        assert_eq!(shown("/work/app/../1_a.sql"), "1_a.sql");
    }
}
