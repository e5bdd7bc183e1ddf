//! The layering of `src/`, checked against the table of docs/architecture.md.
//!
//! Every `.rs` file under `src/` belongs to one layer (the longest matching entry of the table's
//! `files` column). Each reference a file makes to another top-level module (`crate::NAME`,
//! grouped `use crate::{…}`, `super::` chains that climb out of the file's top-level module,
//! `$crate::NAME`, and `sluice::NAME` from the binary) must point into its own layer or into a
//! layer its row lists under `may import`. Test code is exempt: files named `tests.rs` or
//! `tests_*.rs`, files under a `tests` directory, and items marked `#[cfg(test)]`.
//!
//! Std only, and no `use sluice`: the check reads the sources as text.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

const DOC: &str = "docs/architecture.md";
const BEGIN: &str = "<!-- layers:begin -->";
const END: &str = "<!-- layers:end -->";
/// The name of the crate root (src/lib.rs, src/main.rs) in the module graph.
const ROOT: &str = "(crate root)";

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Layer {
    name: String,
    /// Paths relative to the crate; a trailing `/` means a directory.
    files: Vec<String>,
    may_import: BTreeSet<String>,
}

#[derive(Debug)]
struct Table {
    layers: Vec<Layer>,
}

impl Table {
    /// The layer of a file (`src/…`): the layer of the longest `files` entry matching it.
    fn layer_of(&self, file: &str) -> Option<&Layer> {
        let mut best: Option<(usize, &Layer)> = None;
        for layer in &self.layers {
            for entry in &layer.files {
                let matches = if entry.ends_with('/') { file.starts_with(entry.as_str()) } else { file == entry };
                if matches && best.is_none_or(|(len, _)| entry.len() > len) {
                    best = Some((entry.len(), layer));
                }
            }
        }
        best.map(|(_, layer)| layer)
    }

    fn get(&self, name: &str) -> Option<&Layer> {
        self.layers.iter().find(|layer| layer.name == name)
    }
}

fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = line.strip_suffix('|').unwrap_or(line);
    line.split('|').map(|cell| cell.replace('`', "").trim().to_string()).collect()
}

fn list(cell: &str) -> Vec<String> {
    match cell {
        "" | "—" | "-" => Vec::new(),
        _ => cell.split(',').map(|item| item.trim().to_string()).collect(),
    }
}

/// Reads the table between the markers of docs/architecture.md and checks it is well formed:
/// known layer names, every file entry under `src/` and claimed once, no cycle.
fn parse_table(doc: &str) -> Result<Table, String> {
    let start = doc.find(BEGIN).ok_or_else(|| format!("{DOC}: marker `{BEGIN}` not found"))?;
    let body = &doc[start + BEGIN.len()..];
    let end = body.find(END).ok_or_else(|| format!("{DOC}: marker `{END}` not found after `{BEGIN}`"))?;
    let rows: Vec<&str> = body[..end].lines().filter(|line| line.trim().starts_with('|')).collect();
    if rows.len() < 3 {
        return Err(format!("{DOC}: no table between the markers (a header, a separator and one row at least)"));
    }
    let header: Vec<String> = cells(rows[0]).iter().map(|cell| cell.to_lowercase()).collect();
    if header != ["layer", "files", "may import"] {
        return Err(format!("{DOC}: the table's columns must be `layer | files | may import`, not {header:?}"));
    }
    let mut layers: Vec<Layer> = Vec::new();
    for row in &rows[2..] {
        let row_cells = cells(row);
        let [name, files, may_import] = row_cells.as_slice() else {
            return Err(format!("{DOC}: row `{}` does not have three cells", row.trim()));
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{DOC}: `{name}` is not a layer name"));
        }
        if layers.iter().any(|layer| &layer.name == name) {
            return Err(format!("{DOC}: layer `{name}` has two rows"));
        }
        let files = list(files);
        if files.is_empty() {
            return Err(format!("{DOC}: layer `{name}` lists no files"));
        }
        let may_import: BTreeSet<String> = list(may_import).into_iter().collect();
        layers.push(Layer { name: name.clone(), files, may_import });
    }

    let mut claimed: BTreeMap<&str, &str> = BTreeMap::new();
    for layer in &layers {
        for entry in &layer.files {
            if !entry.starts_with("src/") || !(entry.ends_with('/') || entry.ends_with(".rs")) {
                return Err(format!(
                    "{DOC}: `{entry}` (layer `{}`) is neither a `src/….rs` file nor a `src/…/` directory",
                    layer.name
                ));
            }
            if let Some(other) = claimed.insert(entry, &layer.name) {
                return Err(format!("{DOC}: `{entry}` is listed by both `{other}` and `{}`", layer.name));
            }
        }
        for imported in &layer.may_import {
            if imported == &layer.name {
                return Err(format!("{DOC}: layer `{imported}` lists itself under `may import`"));
            }
            if !layers.iter().any(|other| &other.name == imported) {
                return Err(format!("{DOC}: layer `{}` may import `{imported}`, which is no layer", layer.name));
            }
        }
    }

    let graph: BTreeMap<String, BTreeSet<String>> =
        layers.iter().map(|layer| (layer.name.clone(), layer.may_import.clone())).collect();
    if let Some(cycle) = cycles(&graph).into_iter().next() {
        return Err(format!("{DOC}: the allowed imports form a cycle: {}", cycle.join(" -> ")));
    }
    Ok(Table { layers })
}

// ---------------------------------------------------------------------------------------------
// Reading Rust source
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    /// A number.
    Lit,
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Skips a (possibly raw) string literal whose opening `"` or first `#` is at `i`; returns the
/// index after it. Counts the newlines it crosses.
fn skip_string(chars: &[char], mut i: usize, raw: bool, line: &mut usize) -> usize {
    let mut hashes = 0;
    if raw {
        while chars.get(i) == Some(&'#') {
            hashes += 1;
            i += 1;
        }
    }
    i += 1; // the opening quote
    while i < chars.len() {
        match chars[i] {
            '\n' => *line += 1,
            '\\' if !raw => {
                if chars.get(i + 1) == Some(&'\n') {
                    *line += 1;
                }
                i += 1;
            }
            '"' if (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) => return i + 1 + hashes,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Splits source into identifiers, `::` and punctuation, with their lines; comments and the
/// contents of string and character literals are dropped.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            i = skip_string(&chars, i, false, &mut line);
        } else if c == '\'' {
            if next == Some('\\') {
                // An escaped character literal: '\n', '\'', '\u{…}'.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3; // 'x'
            } else {
                i += 1; // a lifetime or a label; its name follows as an identifier
            }
        } else if is_ident_start(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let after = chars.get(i).copied();
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && (after == Some('"') || after == Some('#')) {
                let mut j = i;
                while chars.get(j) == Some(&'#') {
                    j += 1;
                }
                if chars.get(j) == Some(&'"') {
                    i = skip_string(&chars, i, true, &mut line);
                    continue;
                }
                if word == "r" && j == i + 1 && chars.get(j).is_some_and(|&c| is_ident_start(c)) {
                    // A raw identifier: r#type.
                    let start = j;
                    i = j;
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                    out.push(Token { tok: Tok::Ident(chars[start..i].iter().collect()), line });
                    continue;
                }
            }
            if matches!(word.as_str(), "b" | "c") && after == Some('"') {
                i = skip_string(&chars, i, false, &mut line);
                continue;
            }
            out.push(Token { tok: Tok::Ident(word), line });
        } else if c.is_ascii_digit() {
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Lit, line });
        } else if c == ':' && next == Some(':') {
            out.push(Token { tok: Tok::PathSep, line });
            i += 2;
        } else {
            out.push(Token { tok: Tok::Punct(c), line });
            i += 1;
        }
    }
    out
}

/// A reference to a top-level name of the crate.
#[derive(Clone, Debug, PartialEq)]
struct Ref {
    /// The top-level name: a module, or an item of the crate root.
    name: String,
    line: usize,
    /// As written, up to the name: `crate::ai`, `super::super::ai`.
    path: String,
}

fn ident(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i) {
        Some(Token { tok: Tok::Ident(word), .. }) => Some(word),
        _ => None,
    }
}

fn is(tokens: &[Token], i: usize, tok: &Tok) -> bool {
    tokens.get(i).is_some_and(|t| &t.tok == tok)
}

/// Index after the bracketed group opening at `i` (`(`, `[` or `{`).
fn skip_group(tokens: &[Token], mut i: usize) -> usize {
    let mut depth = 0usize;
    while i < tokens.len() {
        match tokens[i].tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    i
}

/// Index after the item starting at `i` (after its attributes): up to a `;` or a `{…}` block
/// at the item's own level.
fn skip_item(tokens: &[Token], mut i: usize) -> usize {
    while is(tokens, i, &Tok::Punct('#')) && is(tokens, i + 1, &Tok::Punct('[')) {
        i = skip_group(tokens, i + 1);
    }
    while i < tokens.len() {
        match tokens[i].tok {
            Tok::Punct(';') => return i + 1,
            Tok::Punct('{') => return skip_group(tokens, i),
            Tok::Punct('(' | '[') => i = skip_group(tokens, i),
            _ => i += 1,
        }
    }
    i
}

/// Whether tokens at `i` are the attribute `#[cfg(test)]` (outer) or `#![cfg(test)]` (inner).
fn cfg_test_at(tokens: &[Token], i: usize) -> Option<(bool, usize)> {
    let inner = is(tokens, i + 1, &Tok::Punct('!'));
    let j = if inner { i + 2 } else { i + 1 };
    let expected = [
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let found = is(tokens, i, &Tok::Punct('#')) && expected.iter().enumerate().all(|(k, tok)| is(tokens, j + k, tok));
    found.then_some((inner, j + expected.len()))
}

/// Follows the path starting at `i` from the module `base`; records a [`Ref`] when it reaches a
/// name at the crate root. Returns the index after what it read.
fn walk_path(tokens: &[Token], mut i: usize, mut base: Vec<String>, mut path: String, out: &mut Vec<Ref>) -> usize {
    loop {
        let Some(token) = tokens.get(i) else { return i };
        match &token.tok {
            Tok::Ident(word) if word == "crate" || word == "sluice" => base.clear(),
            Tok::Ident(word) if word == "super" => {
                if base.pop().is_none() {
                    return i + 1; // climbs out of the crate: not Rust, not ours to judge
                }
            }
            Tok::Ident(word) if word == "self" => {}
            Tok::Ident(word) => {
                if base.is_empty() {
                    out.push(Ref { name: word.clone(), line: token.line, path: format!("{path}{word}") });
                }
                return i + 1;
            }
            Tok::Punct('{') => return walk_group(tokens, i, &base, &path, out),
            _ => return i,
        }
        if let Tok::Ident(word) = &token.tok {
            if i > 0 && is(tokens, i - 1, &Tok::Punct('$')) && word == "crate" {
                path.push('$');
            }
            path.push_str(word);
            path.push_str("::");
        }
        if !is(tokens, i + 1, &Tok::PathSep) {
            return i + 1;
        }
        i += 2;
    }
}

/// Follows each path of the group `{a::b, c::{d, e}, f}` opening at `i`; returns the index after
/// its closing brace.
fn walk_group(tokens: &[Token], open: usize, base: &[String], path: &str, out: &mut Vec<Ref>) -> usize {
    let mut i = open + 1;
    loop {
        i = walk_path(tokens, i, base.to_vec(), path.to_string(), out);
        // The rest of this element (`::x`, `as y`, a nested group below a module) is not at the
        // crate root.
        loop {
            match tokens.get(i).map(|t| &t.tok) {
                None => return i,
                Some(Tok::Punct('}')) => return i + 1,
                Some(Tok::Punct(',')) => {
                    i += 1;
                    break;
                }
                Some(Tok::Punct('{' | '(' | '[')) => i = skip_group(tokens, i),
                Some(_) => i += 1,
            }
        }
    }
}

/// The module path of a file relative to `src/`: `ai/mod.rs` is `[ai]`, `ai/chat.rs` is
/// `[ai, chat]`, `lib.rs` and `main.rs` are the crate root `[]`.
fn module_path(rel: &str) -> Vec<String> {
    let rel = rel.strip_prefix("src/").unwrap_or(rel);
    if rel == "lib.rs" || rel == "main.rs" {
        return Vec::new();
    }
    let rel = rel.strip_suffix(".rs").unwrap_or(rel);
    let mut parts: Vec<String> = rel.split('/').map(str::to_string).collect();
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// Every reference to a top-level name of the crate made by non-test code of the file whose
/// module path is `module`.
fn references(src: &str, module: &[String]) -> Vec<Ref> {
    let tokens = lex(src);
    let mut out = Vec::new();
    // Inline modules (`mod x { … }`) we are in, with the brace depth of their bodies.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        if let Some((inner, after)) = cfg_test_at(&tokens, i) {
            if inner {
                // `#![cfg(test)]`: the rest of the enclosing module is test code.
                if inline.is_empty() {
                    break;
                }
                i = after;
                continue;
            }
            i = skip_item(&tokens, after);
            continue;
        }
        let prev_sep = i > 0 && is(&tokens, i - 1, &Tok::PathSep);
        match &tokens[i].tok {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(word) if word == "mod" && is(&tokens, i + 2, &Tok::Punct('{')) => {
                let name = ident(&tokens, i + 1).unwrap_or_default().to_string();
                depth += 1;
                inline.push((name, depth));
                i += 3;
            }
            Tok::Ident(word)
                if matches!(word.as_str(), "crate" | "sluice" | "super" | "self")
                    && !prev_sep
                    && is(&tokens, i + 1, &Tok::PathSep) =>
            {
                let mut base = module.to_vec();
                base.extend(inline.iter().map(|(name, _)| name.clone()));
                i = walk_path(&tokens, i, base, String::new(), &mut out);
            }
            _ => i += 1,
        }
    }
    out
}

/// Test files: `tests.rs`, `tests_*.rs`, anything under a `tests` directory.
fn is_test_file(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    let (file, dirs) = parts.split_last().expect("a path has a last component");
    *file == "tests.rs" || (file.starts_with("tests_") && file.ends_with(".rs")) || dirs.contains(&"tests")
}

// ---------------------------------------------------------------------------------------------
// The tree
// ---------------------------------------------------------------------------------------------

struct SourceFile {
    /// `src/…`, with `/`.
    rel: String,
    test: bool,
    /// The top-level module (`ai`), or [`ROOT`] for src/lib.rs and src/main.rs.
    top: String,
    refs: Vec<Ref>,
}

fn collect(dir: &Path, rel: &str, out: &mut Vec<(String, String)>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let child = format!("{rel}/{name}");
        if path.is_dir() {
            collect(&path, &child, out);
        } else if name.ends_with(".rs") {
            let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            out.push((child, text));
        }
    }
}

fn scan() -> Vec<SourceFile> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = Vec::new();
    collect(&root.join("src"), "src", &mut texts);
    texts.sort();
    texts
        .into_iter()
        .map(|(rel, text)| {
            let module = module_path(&rel);
            let test = is_test_file(&rel);
            let refs = if test { Vec::new() } else { references(&text, &module) };
            let top = module.first().cloned().unwrap_or_else(|| ROOT.to_string());
            SourceFile { rel, test, top, refs }
        })
        .collect()
}

/// The top-level modules: `src/NAME.rs` and `src/NAME/`.
fn top_modules(files: &[SourceFile]) -> BTreeSet<String> {
    files.iter().map(|file| file.top.clone()).filter(|top| top != ROOT).collect()
}

// ---------------------------------------------------------------------------------------------
// Graphs
// ---------------------------------------------------------------------------------------------

/// Shortest path from `from` to `to` (both included), if any.
fn shortest_path(graph: &BTreeMap<String, BTreeSet<String>>, from: &str, to: &str) -> Option<Vec<String>> {
    let mut parent: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([from]);
    let mut seen = BTreeSet::from([from]);
    while let Some(node) = queue.pop_front() {
        if node == to {
            let mut path = vec![to.to_string()];
            let mut at = to;
            while let Some(&p) = parent.get(at) {
                path.push(p.to_string());
                at = p;
            }
            path.reverse();
            return Some(path);
        }
        for next in graph.get(node).into_iter().flatten() {
            if seen.insert(next.as_str()) {
                parent.insert(next.as_str(), node);
                queue.push_back(next.as_str());
            }
        }
    }
    None
}

/// The cycles of a graph: for each edge on a cycle, the shortest cycle through it, rotated to
/// start at its smallest node, without duplicates. Each is `[a, b, …, a]`.
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut found: BTreeSet<Vec<String>> = BTreeSet::new();
    for (from, tos) in graph {
        for to in tos {
            let Some(back) = shortest_path(graph, to, from) else { continue };
            let mut cycle = vec![from.clone()];
            cycle.extend(back.into_iter().take_while(|node| node != from));
            let smallest = (0..cycle.len()).min_by_key(|&k| &cycle[k]).unwrap_or(0);
            cycle.rotate_left(smallest);
            cycle.push(cycle[0].clone());
            found.insert(cycle);
        }
    }
    found.into_iter().collect()
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

fn load_table() -> Table {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
    let doc = fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    parse_table(&doc).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn imports_follow_the_layers_of_docs_architecture_md() {
    let table = load_table();
    let files = scan();
    let modules = top_modules(&files);
    let root_layer = table.layer_of("src/lib.rs").map(|layer| layer.name.clone());

    // The layer of each top-level name a file may reference.
    let layer_of_name = |name: &str| -> Option<String> {
        if modules.contains(name) {
            let as_file = format!("src/{name}.rs");
            let probe = if files.iter().any(|f| f.rel == as_file) { as_file } else { format!("src/{name}/mod.rs") };
            table.layer_of(&probe).map(|layer| layer.name.clone())
        } else {
            root_layer.clone()
        }
    };

    let mut unmapped = Vec::new();
    let mut violations = Vec::new();
    let mut ref_count = 0;
    for file in &files {
        let Some(layer) = table.layer_of(&file.rel) else {
            unmapped.push(format!("  {}: in no layer of {DOC} (add it to a row's `files`)", file.rel));
            continue;
        };
        let mut seen = BTreeSet::new();
        for r in &file.refs {
            ref_count += 1;
            let Some(target) = layer_of_name(&r.name) else { continue }; // reported as unmapped
            if target == layer.name || layer.may_import.contains(&target) {
                continue;
            }
            if seen.insert((r.line, r.name.clone())) {
                violations.push(format!(
                    "  {}:{}: layer `{}` imports `{target}` ({}), which {DOC} does not allow",
                    file.rel, r.line, layer.name, r.path
                ));
            }
        }
    }

    let code_files = files.iter().filter(|file| !file.test).count();
    assert!(code_files > 50, "only {code_files} non-test files found under src/: is the walk broken?");
    assert!(ref_count > 100, "only {ref_count} references found under src/: is the parser broken?");

    let mut report = String::new();
    if !unmapped.is_empty() {
        let _ = writeln!(report, "{} file(s) under src/ belong to no layer:\n{}", unmapped.len(), unmapped.join("\n"));
    }
    if !violations.is_empty() {
        let _ = writeln!(report, "{} import(s) cross the layers:\n{}", violations.len(), violations.join("\n"));
    }
    assert!(report.is_empty(), "the layering of {DOC} is not respected ({} files scanned)\n{report}", files.len());
}

#[test]
fn top_level_modules_do_not_import_each_other_in_a_circle() {
    let files = scan();
    let modules = top_modules(&files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // One place in the code per edge: the first in file order.
    let mut evidence: BTreeMap<(String, String), String> = BTreeMap::new();
    for file in &files {
        for r in &file.refs {
            let to = if modules.contains(&r.name) { r.name.clone() } else { ROOT.to_string() };
            if to == file.top {
                continue;
            }
            graph.entry(file.top.clone()).or_default().insert(to.clone());
            evidence.entry((file.top.clone(), to)).or_insert_with(|| format!("{}:{} ({})", file.rel, r.line, r.path));
        }
    }
    let found = cycles(&graph);
    let mut report = String::new();
    for cycle in &found {
        let _ = writeln!(report, "  {}", cycle.join(" -> "));
        for pair in cycle.windows(2) {
            let place = evidence.get(&(pair[0].clone(), pair[1].clone())).map_or("?", String::as_str);
            let _ = writeln!(report, "      {} -> {}: {place}", pair[0], pair[1]);
        }
    }
    assert!(found.is_empty(), "{} circle(s) between top-level modules of src/:\n{report}", found.len());
}

// ---------------------------------------------------------------------------------------------
// The parser itself
// ---------------------------------------------------------------------------------------------

fn names(refs: &[Ref]) -> Vec<(String, usize)> {
    refs.iter().map(|r| (r.name.clone(), r.line)).collect()
}

fn module(path: &[&str]) -> Vec<String> {
    path.iter().map(|part| part.to_string()).collect()
}

#[test]
fn parser_reads_grouped_imports_across_lines() {
    let src = "use crate::{\n    ai::chat,\n    mcp::{self, Federation},\n    proxy::handler::{A, B}, metrics,\n};\nuse crate::ir::Snapshot;\n";
    let refs = references(src, &module(&["runtime"]));
    assert_eq!(
        names(&refs),
        [("ai".into(), 2), ("mcp".into(), 3), ("proxy".into(), 4), ("metrics".into(), 4), ("ir".into(), 6)]
    );
    assert_eq!(refs[0].path, "crate::ai");
    // Nested groups below a module name nothing at the root; a group may open a group.
    let refs = references("use crate::{{a, b::{c, d}}, e as f};", &module(&["x"]));
    assert_eq!(names(&refs), [("a".into(), 1), ("b".into(), 1), ("e".into(), 1)]);
    // Paths in expressions and types count too, and `$crate` and `sluice::`.
    let refs = references(
        "fn f() -> crate::ai::X { let x = crate::mcp::y(); sluice::runtime::z(); $crate::proxy::w!() }",
        &module(&["x"]),
    );
    assert_eq!(names(&refs), [("ai".into(), 1), ("mcp".into(), 1), ("runtime".into(), 1), ("proxy".into(), 1)]);
    assert_eq!(refs[3].path, "$crate::proxy");
    // `pub(crate)` is no path.
    assert!(references("pub(crate) fn f() {}", &module(&["x"])).is_empty());
}

#[test]
fn parser_ignores_comments_and_literals() {
    let src = r####"
// use crate::ai;
/// See crate::mcp.
//! crate::proxy
/* crate::policy /* nested crate::k8s */ crate::httpkit */
let a = "crate::catalog \" crate::config";
let b = r#"crate::metrics "# ;
let c = b"crate::admin";
let d = '"'; let e = crate::ir::X; // crate::cli
fn g<'a>(x: &'a str) -> &'a str { let q = '\''; crate::api::f(x) }
let s = "multi
line"; let t = crate::runtime::Y;
"####;
    let refs = references(src, &module(&["x"]));
    assert_eq!(names(&refs), [("ir".into(), 9), ("api".into(), 10), ("runtime".into(), 12)]);
}

#[test]
fn parser_resolves_super_chains() {
    // src/ai/mod.rs: `super` is the crate root.
    let refs = references("use super::proxy::Handler;\nuse super::{ir, mcp::X};", &module_path("src/ai/mod.rs"));
    assert_eq!(names(&refs), [("proxy".into(), 1), ("ir".into(), 2), ("mcp".into(), 2)]);
    assert_eq!(refs[0].path, "super::proxy");
    // src/ai/providers/mod.rs: `super::super` is the crate root, `super` is ai.
    let refs = references("use super::super::ir::X;\nuse super::wire::Y;", &module_path("src/ai/providers/mod.rs"));
    assert_eq!(names(&refs), [("ir".into(), 1)]);
    assert_eq!(refs[0].path, "super::super::ir");
    // src/ai/chat.rs: `super` is ai, and stays there.
    assert!(references("use super::errors::E; super::stream::f();", &module_path("src/ai/chat.rs")).is_empty());
    // src/metrics.rs is module metrics: its `super` is the root.
    assert_eq!(names(&references("use super::ir;", &module_path("src/metrics.rs"))), [("ir".into(), 1)]);
    // src/runtime/generations.rs: `super::super` climbs out of runtime.
    let refs = references("use super::super::config;", &module_path("src/runtime/generations.rs"));
    assert_eq!(names(&refs), [("config".into(), 1)]);
    // Inside a group, and inside an inline module.
    let refs = references("use super::{super::ir, x};", &module_path("src/ai/chat.rs"));
    assert_eq!(names(&refs), [("ir".into(), 1)]);
    let refs = references("mod m {\n use super::super::mcp;\n}\nuse super::ir;", &module_path("src/ai/mod.rs"));
    assert_eq!(names(&refs), [("mcp".into(), 2), ("ir".into(), 4)]);
    // `self::` from the root names a top-level module; `pub(super)` is no path.
    assert_eq!(names(&references("pub use self::ai::X;", &module_path("src/lib.rs"))), [("ai".into(), 1)]);
    assert!(references("pub(super) fn f() {}", &module_path("src/ai/mod.rs")).is_empty());
}

#[test]
fn parser_skips_test_items() {
    let src = "#[cfg(test)]\nmod tests;\nuse crate::ir::X;\n#[cfg(test)]\nfn helper() { crate::ai::f(); }\n\
               #[cfg(test)]\n#[allow(clippy::unwrap_used)]\nmod more {\n use crate::mcp::Y;\n}\nuse crate::proxy::Z;\n";
    assert_eq!(names(&references(src, &module(&["x"]))), [("ir".into(), 3), ("proxy".into(), 11)]);
    assert!(is_test_file("src/ai/wire/tests.rs"));
    assert!(is_test_file("src/ai/wire/tests_gemini.rs"));
    assert!(is_test_file("src/ai/tests/helpers.rs"));
    assert!(!is_test_file("src/ai/contests.rs"));
}

#[test]
fn table_parser_rejects_bad_tables() {
    let table = |rows: &str| format!("x\n{BEGIN}\n| layer | files | may import |\n|---|---|---|\n{rows}{END}\n");
    let good = parse_table(&table("| a | src/a/ | — |\n| b | src/b.rs, src/b/ | a |\n")).expect("a good table");
    assert_eq!(good.layer_of("src/b/x.rs").map(|l| l.name.as_str()), Some("b"));
    assert_eq!(good.layer_of("src/b.rs").map(|l| l.name.as_str()), Some("b"));
    assert!(good.layer_of("src/c.rs").is_none());
    assert!(good.get("a").is_some_and(|a| a.may_import.is_empty()));

    let longest = parse_table(&table("| a | src/a/ | — |\n| b | src/a/b/ | a |\n")).expect("nested entries");
    assert_eq!(longest.layer_of("src/a/b/c.rs").map(|l| l.name.as_str()), Some("b"));
    assert_eq!(longest.layer_of("src/a/c.rs").map(|l| l.name.as_str()), Some("a"));

    let err = |rows: &str| parse_table(&table(rows)).expect_err("a bad table");
    assert!(err("| a | src/a/ | zz |\n").contains("`zz`, which is no layer"));
    assert!(err("| a | src/a/ | b |\n| b | src/b/ | a |\n").contains("cycle"));
    assert!(err("| a | src/a/ | — |\n| a | src/b/ | — |\n").contains("two rows"));
    assert!(err("| a | src/a/ | — |\n| b | src/a/ | — |\n").contains("listed by both"));
    assert!(parse_table("no markers").expect_err("no markers").contains("not found"));
}
