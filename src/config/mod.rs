//! Reading manifests from disk (standalone mode): files and directories of YAML or
//! JSON documents, turned into typed [`Resource`]s with every problem reported.
//!
//! Loading never stops at the first problem: [`LoadResult`] carries what could be
//! read together with all errors, and the caller decides (`check` prints them all;
//! `run` keeps its current config when there is any).

mod load;
mod parse;
pub mod watch;

use std::fmt;

use crate::api::Resource;

pub use load::load_paths;
pub use parse::{parse_documents, parse_text, yaml_options};

/// Where a resource was read from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// The file as it was named (a path, or the name given to [`parse_text`]).
    pub file: String,
    /// 1-based position among the file's non-empty documents.
    pub document: usize,
    /// 1-based position in the `items` of a `List` document.
    pub item: Option<usize>,
    /// The first line of the document (1-based).
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} (document {}", self.file, self.line, self.document)?;
        if let Some(item) = self.item {
            write!(f, ", item {item}")?;
        }
        f.write_str(")")
    }
}

/// A resource and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub source: Source,
    pub resource: Resource,
}

/// One problem found while loading, printed on one line as
/// `file[:line[:column]] [(document N[, item M][, Kind ns/name])]: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file (or the name given to [`parse_text`]).
    pub source: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub document: Option<usize>,
    pub item: Option<usize>,
    /// The resource concerned, e.g. `HTTPRoute default/foo`, when known.
    pub resource: Option<String>,
    pub message: String,
}

impl LoadError {
    /// An error about a whole file.
    pub fn file(source: impl Into<String>, message: impl Into<String>) -> LoadError {
        LoadError {
            source: source.into(),
            line: None,
            column: None,
            document: None,
            item: None,
            resource: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        let mut context = Vec::new();
        if let Some(document) = self.document {
            context.push(format!("document {document}"));
        }
        if let Some(item) = self.item {
            context.push(format!("item {item}"));
        }
        if let Some(resource) = &self.resource {
            context.push(resource.clone());
        }
        if !context.is_empty() {
            write!(f, " ({})", context.join(", "))?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for LoadError {}

/// Several load errors; displays one per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

/// Everything that could be read, and every problem found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadResult {
    pub resources: Vec<Loaded>,
    pub errors: Vec<LoadError>,
}

impl LoadResult {
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The resources when there was no error at all, else every error.
    pub fn into_result(self) -> Result<Vec<Loaded>, LoadErrors> {
        if self.errors.is_empty() { Ok(self.resources) } else { Err(LoadErrors(self.errors)) }
    }

    /// Appends the resources and errors of `other`.
    fn extend(&mut self, other: LoadResult) {
        self.resources.extend(other.resources);
        self.errors.extend(other.errors);
    }

    /// Keeps the first of several resources with the same kind, namespace and name,
    /// and reports each later one with both sources.
    fn remove_duplicates(&mut self) {
        let mut seen = std::collections::HashMap::new();
        let mut kept = Vec::with_capacity(self.resources.len());
        for loaded in std::mem::take(&mut self.resources) {
            let key = loaded.resource.key();
            match seen.get(&key) {
                Some(first) => self.errors.push(LoadError {
                    source: loaded.source.file.clone(),
                    line: Some(loaded.source.line),
                    column: None,
                    document: Some(loaded.source.document),
                    item: loaded.source.item,
                    resource: Some(key.to_string()),
                    message: format!("duplicate resource: {key} is already defined at {first}"),
                }),
                None => {
                    seen.insert(key, loaded.source.clone());
                    kept.push(loaded);
                }
            }
        }
        self.resources = kept;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
