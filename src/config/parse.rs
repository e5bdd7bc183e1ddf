//! Text → documents → resources, with positions for every error.
//!
//! YAML text is cut into documents at `---` lines first, so that a syntax error
//! spoils only its own document and every line number refers to the whole file.
//! (YAML forbids a document marker at the start of a line inside any scalar, so
//! this cut agrees with a YAML parser.)

use serde_json::Value;
use serde_saphyr::MessageFormatter as _;

use super::{LoadError, LoadResult, Loaded, Source};
use crate::api::{Resource, ResourceError, ResourceErrorReason};

mod locate;

/// Parses in-memory text named `source_name` (JSON when the name ends in `.json`,
/// else multi-document YAML). Every error is reported, including a resource
/// defined twice; the resources that could be read are returned alongside.
pub fn parse_text(source_name: &str, text: &str) -> LoadResult {
    let mut result = parse_file(source_name, text);
    result.remove_duplicates();
    result
}

/// Like [`parse_text`], but all or nothing.
pub fn parse_documents(source_name: &str, text: &str) -> Result<Vec<Loaded>, super::LoadErrors> {
    parse_text(source_name, text).into_result()
}

/// Parses one file's text, without looking for duplicates.
pub(super) fn parse_file(source_name: &str, text: &str) -> LoadResult {
    let mut out = Collector { file: source_name, document: 0, result: LoadResult::default() };
    if source_name.to_ascii_lowercase().ends_with(".json") {
        parse_json(text, &mut out);
    } else {
        parse_yaml(text, &mut out);
    }
    out.result
}

/// The YAML dialect we read: YAML 1.2 booleans (`yes`, `on`, `n` stay strings),
/// and numbers written with leading zeros stay strings.
pub fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
    }
}

struct Collector<'a> {
    file: &'a str,
    /// Documents seen so far in this file.
    document: usize,
    result: LoadResult,
}

impl Collector<'_> {
    fn error(&mut self, line: usize, column: Option<usize>, message: String) {
        self.result.errors.push(LoadError {
            source: self.file.to_owned(),
            line: Some(line),
            column,
            document: Some(self.document),
            item: None,
            resource: None,
            message,
        });
    }

    /// Adds one parsed document (a resource, or a `List` of them) starting at `line`.
    /// `chunk` is the document's own YAML, for pinpointing field errors.
    fn document(&mut self, value: Value, line: usize, chunk: Option<&Chunk<'_>>) {
        let source = Source { file: self.file.to_owned(), document: self.document, item: None, line };
        match list_items(&value) {
            Some(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let source = Source { item: Some(i + 1), ..source.clone() };
                    self.resource(item, source, None);
                }
            }
            None => self.resource(value, source, chunk),
        }
    }

    fn resource(&mut self, value: Value, source: Source, chunk: Option<&Chunk<'_>>) {
        let chunk = chunk.filter(|_| !locate::has_nulls(&value));
        let kind = value.get("kind").and_then(Value::as_str).map(str::to_owned);
        match Resource::from_value(value) {
            Ok(resource) => self.result.resources.push(Loaded { source, resource }),
            Err(err) => {
                let position = match (&err.reason, chunk, kind) {
                    (ResourceErrorReason::Invalid { path, message }, Some(chunk), Some(kind)) => {
                        locate::field_error(&kind, chunk.text, path, message)
                            .map(|(line, column)| (chunk.line + line - 1, column))
                    }
                    _ => None,
                };
                self.result.errors.push(resource_error(err, source, position));
            }
        }
    }
}

fn resource_error(err: ResourceError, source: Source, position: Option<(usize, usize)>) -> LoadError {
    let (line, column) = match position {
        Some((line, column)) => (line, Some(column)),
        None => (source.line, None),
    };
    LoadError {
        source: source.file,
        line: Some(line),
        column,
        document: Some(source.document),
        item: source.item,
        resource: err.resource,
        message: err.reason.to_string(),
    }
}

/// The items of a `List` (or `<Kind>List`) document, with `apiVersion` and `kind`
/// filled in from the list's when the items omit them (as API list responses do).
fn list_items(value: &Value) -> Option<Vec<Value>> {
    let kind = value.get("kind")?.as_str()?;
    let items = value.get("items")?.as_array()?;
    let item_kind = kind.strip_suffix("List")?;
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    Some(
        items
            .iter()
            .map(|item| {
                let mut item = item.clone();
                if let Value::Object(object) = &mut item
                    && !item_kind.is_empty()
                {
                    if !object.contains_key("kind") {
                        object.insert("kind".into(), Value::String(item_kind.into()));
                    }
                    if let (Some(v), false) = (api_version, object.contains_key("apiVersion")) {
                        object.insert("apiVersion".into(), Value::String(v.into()));
                    }
                }
                item
            })
            .collect(),
    )
}

fn parse_yaml(text: &str, out: &mut Collector<'_>) {
    for chunk in split_documents(text) {
        let Some(first_line) = first_content_line(chunk.text) else {
            continue;
        };
        match serde_saphyr::from_multiple_with_options::<Value>(chunk.text, yaml_options()) {
            Err(err) => {
                out.document += 1;
                let (line, column) = match err.location() {
                    Some(loc) if loc.line() > 0 => {
                        (chunk.line + to_usize(loc.line()) - 1, Some(to_usize(loc.column())))
                    }
                    _ => (chunk.line + first_line - 1, None),
                };
                out.error(line, column, yaml_message(&err));
            }
            Ok(values) => {
                let values: Vec<Value> = values.into_iter().filter(|v| !v.is_null()).collect();
                let single = values.len() == 1;
                for value in values {
                    out.document += 1;
                    let located = single.then_some(&chunk);
                    out.document(value, chunk.line + first_line - 1, located);
                }
            }
        }
    }
}

fn yaml_message(err: &serde_saphyr::Error) -> String {
    let message = serde_saphyr::DefaultMessageFormatter.format_message(err.without_snippet());
    format!("invalid YAML: {}", message.escape_debug())
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// A slice of the text holding one or more YAML documents, and the 1-based line it
/// starts on.
struct Chunk<'a> {
    text: &'a str,
    line: usize,
}

/// Cuts YAML text before every `---` document marker at the start of a line. Text
/// with directives (`%YAML`, `%TAG`) is left whole, since a directive belongs to
/// the document after it.
fn split_documents(text: &str) -> Vec<Chunk<'_>> {
    if text.lines().any(|l| l.starts_with('%')) {
        return vec![Chunk { text, line: 1 }];
    }
    let mut chunks = Vec::new();
    let (mut start, mut start_line, mut offset) = (0, 1, 0);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        if index > 0 && is_document_marker(line) {
            chunks.push(Chunk { text: &text[start..offset], line: start_line });
            start = offset;
            start_line = index + 1;
        }
        offset += line.len();
    }
    chunks.push(Chunk { text: &text[start..], line: start_line });
    chunks
}

fn is_document_marker(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// The 1-based line (within the chunk) of the first line that holds content: not
/// blank, not a comment, not a bare `---` or `...` marker.
fn first_content_line(chunk: &str) -> Option<usize> {
    chunk
        .lines()
        .position(|line| {
            let trimmed = line.trim();
            let bare_marker = is_document_marker(line) && line[3..].trim().is_empty();
            !(trimmed.is_empty() || trimmed.starts_with('#') || bare_marker || trimmed == "...")
        })
        .map(|i| i + 1)
}

fn parse_json(text: &str, out: &mut Collector<'_>) {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        let start = stream.byte_offset();
        let next = stream.next();
        let Some(next) = next else { break };
        out.document += 1;
        match next {
            Ok(value) => {
                let value_start = start + (text[start..].len() - text[start..].trim_start().len());
                let line = text[..value_start].matches('\n').count() + 1;
                out.document(value, line, None);
            }
            Err(err) => {
                let full = err.to_string();
                let position = format!(" at line {} column {}", err.line(), err.column());
                let message = full.strip_suffix(&position).unwrap_or(&full);
                out.error(err.line(), Some(err.column()), format!("invalid JSON: {message}"));
                break;
            }
        }
    }
}
