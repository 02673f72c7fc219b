//! Reads the commands a document shows, so tests run them exactly as written.

use std::path::{Path, PathBuf};

/// The repository's `docs/` file `name`.
pub fn doc_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(name)
}

/// The text of `docs/<name>`.
pub fn read_doc(name: &str) -> String {
    std::fs::read_to_string(doc_path(name))
        .unwrap_or_else(|e| panic!("cannot read docs/{name}: {e}"))
}

/// The section of `markdown` under the heading whose text is `heading` (any level), up to the
/// next heading of the same or a higher level.
pub fn section<'a>(markdown: &'a str, heading: &str) -> &'a str {
    let mut start = None;
    let mut level = 0;
    let mut offset = 0;
    for line in markdown.split_inclusive('\n') {
        let trimmed = line.trim_end();
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        let is_heading = hashes > 0 && trimmed[hashes..].starts_with(' ');
        match start {
            None if is_heading && trimmed[hashes..].trim() == heading => {
                start = Some(offset + line.len());
                level = hashes;
            }
            Some(s) if is_heading && hashes <= level => return &markdown[s..offset],
            _ => {}
        }
        offset += line.len();
    }
    match start {
        Some(s) => &markdown[s..],
        None => panic!("no heading {heading:?} in the document"),
    }
}

/// Every command in the ```sh blocks of `markdown`: one per line, `\`-continued lines joined,
/// blank lines and `#` comments left out.
pub fn shell_commands(markdown: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    for line in markdown.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_block = !in_block && trimmed == "```sh";
            continue;
        }
        if !in_block || (pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')))
        {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                pending.push_str(part);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                commands.push(std::mem::take(&mut pending));
            }
        }
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_of_a_section() {
        let md = "# A\n## Run\ntext\n```sh\n# comment\nhiqlite a \\\n  --b c\n\nhiqlite d\n```\n```text\nnot this\n```\n## Next\n```sh\nnot this either\n```\n";
        let run = section(md, "Run");
        assert_eq!(shell_commands(run), ["hiqlite a --b c", "hiqlite d"]);
    }
}
