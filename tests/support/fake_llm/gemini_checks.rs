//! The request checks of the fake Gemini API: what the real `generateContent` refuses with
//! `400 INVALID_ARGUMENT` and a translating gateway can get wrong. Field names are checked
//! strictly (the API rejects unknown names), as are the `oneof` data of a part, roles, the
//! function call / function response pairing, value ranges, and, for Gemini 3 models, the
//! thought signature on the first function call of each step of the current turn.

use serde_json::{Map, Value};

const REQUEST_FIELDS: &[&str] =
    &["contents", "systemInstruction", "tools", "toolConfig", "safetySettings", "generationConfig", "cachedContent"];
const PART_FIELDS: &[&str] = &[
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
    "thought",
    "thoughtSignature",
    "videoMetadata",
    "partMetadata",
    "mediaResolution",
];
/// The members of a part's `data` oneof.
const PART_DATA: &[&str] =
    &["text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult"];
const GENERATION_FIELDS: &[&str] = &[
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "imageConfig",
    "mediaResolution",
];
const TOOL_FIELDS: &[&str] =
    &["functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext", "fileSearch"];
const DECLARATION_FIELDS: &[&str] =
    &["name", "description", "behavior", "parameters", "parametersJsonSchema", "response", "responseJsonSchema"];

fn unknown_fields(obj: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), String> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        None => Ok(()),
        Some(k) if at.is_empty() => {
            Err(format!("Invalid JSON payload received. Unknown name \"{k}\": Cannot find field."))
        }
        Some(k) => Err(format!("Invalid JSON payload received. Unknown name \"{k}\" at '{at}': Cannot find field.")),
    }
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("Invalid value at '{at}', expected an object"))
}

fn snake(at: &str) -> String {
    let mut out = String::new();
    for c in at.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `snake_case` as `lowerCamelCase`.
fn camel(k: &str) -> String {
    let mut out = String::new();
    let mut up = false;
    for c in k.chars() {
        match c {
            '_' => up = true,
            c if up => {
                out.push(c.to_ascii_uppercase());
                up = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// The keys of the message `v` in lowerCamelCase; `inner` says which members are messages
/// themselves (and how to treat theirs). Free-form members (function `args`, a `response`,
/// schemas) are left as they are.
fn camel_message(v: &Value, inner: &dyn Fn(&str, &Value) -> Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (camel(k), inner(&camel(k), v))).collect()),
        other => other.clone(),
    }
}

fn each(v: &Value, f: &dyn Fn(&Value) -> Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(f).collect()),
        other => other.clone(),
    }
}

fn leaf(_: &str, v: &Value) -> Value {
    v.clone()
}

fn part_message(p: &Value) -> Value {
    camel_message(p, &|k, v| match k {
        "inlineData" | "fileData" | "functionCall" | "functionResponse" | "executableCode" | "codeExecutionResult" => {
            camel_message(v, &leaf)
        }
        _ => v.clone(),
    })
}

fn content_message(c: &Value) -> Value {
    camel_message(c, &|k, v| if k == "parts" { each(v, &part_message) } else { v.clone() })
}

/// The request as the API reads it: Google's JSON mapping takes each field by its proto name
/// (`snake_case`) or its JSON name (`lowerCamelCase`), as the official SDKs mix them.
fn normalized(body: &Value) -> Value {
    camel_message(body, &|k, v| match k {
        "contents" => each(v, &content_message),
        "systemInstruction" => content_message(v),
        "generationConfig" => {
            camel_message(v, &|k, v| if k == "thinkingConfig" { camel_message(v, &leaf) } else { v.clone() })
        }
        "tools" => each(v, &|t| {
            camel_message(t, &|k, v| {
                if k == "functionDeclarations" { each(v, &|d| camel_message(d, &leaf)) } else { v.clone() }
            })
        }),
        "toolConfig" => camel_message(v, &|k, v| {
            if k == "functionCallingConfig" { camel_message(v, &leaf) } else { v.clone() }
        }),
        _ => v.clone(),
    })
}

/// Checks a `generateContent` body for `model`; the error message is the real API's.
pub fn validate(body: &Value, model: &str) -> Result<(), String> {
    let body = &normalized(body);
    let obj = body.as_object().ok_or("Invalid JSON payload received. Expected an object.")?;
    unknown_fields(obj, REQUEST_FIELDS, "")?;
    let contents = match obj.get("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => return Err("* GenerateContentRequest.contents: contents is not specified\n".into()),
    };
    for (i, c) in contents.iter().enumerate() {
        content(c, &format!("contents[{i}]"))?;
    }
    if let Some(s) = obj.get("systemInstruction") {
        content(s, "systemInstruction")?;
        let parts = s["parts"].as_array().map(Vec::as_slice).unwrap_or_default();
        if parts.iter().any(|p| p.get("text").is_none()) {
            return Err("System instruction must only contain text parts.".into());
        }
    }
    function_turns(contents)?;
    if model.starts_with("gemini-3") {
        signatures(contents)?;
    }
    if let Some(g) = obj.get("generationConfig") {
        generation_config(object(g, "generation_config")?)?;
    }
    let mut declared = Vec::new();
    for (i, t) in obj.get("tools").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let at = format!("tools[{i}]");
        let t = object(t, &at)?;
        unknown_fields(t, TOOL_FIELDS, &at)?;
        for (j, d) in t.get("functionDeclarations").and_then(Value::as_array).into_iter().flatten().enumerate() {
            let at = format!("{at}.function_declarations[{j}]");
            let d = object(d, &at)?;
            unknown_fields(d, DECLARATION_FIELDS, &at)?;
            let name = d.get("name").and_then(Value::as_str).unwrap_or_default();
            let valid = name.len() <= 64
                && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c));
            if !valid {
                return Err(format!(
                    "* GenerateContentRequest.{at}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:) or dashes (-), with a maximum length of 64.\n"
                ));
            }
            if d.contains_key("parameters") && d.contains_key("parametersJsonSchema") {
                return Err(format!(
                    "* GenerateContentRequest.{at}: parameters and parameters_json_schema are mutually exclusive.\n"
                ));
            }
            declared.push(name.to_owned());
        }
    }
    if let Some(tc) = obj.get("toolConfig") {
        tool_config(object(tc, "tool_config")?, &declared)?;
    }
    Ok(())
}

/// A content; the role may be left out (a user turn, or the system instruction).
fn content(c: &Value, at: &str) -> Result<(), String> {
    let obj = object(c, at)?;
    unknown_fields(obj, &["role", "parts"], at)?;
    match obj.get("role") {
        None => {}
        Some(Value::String(r)) if r == "user" || r == "model" => {}
        Some(_) => return Err("Please use a valid role: user, model.".into()),
    }
    let parts = match obj.get("parts") {
        Some(Value::Array(p)) if !p.is_empty() => p,
        _ => return Err(format!("* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n")),
    };
    for (j, p) in parts.iter().enumerate() {
        part(p, &format!("{at}.parts[{j}]"))?;
    }
    Ok(())
}

fn part(p: &Value, at: &str) -> Result<(), String> {
    let obj = object(p, at)?;
    unknown_fields(obj, PART_FIELDS, at)?;
    let data: Vec<&&str> = PART_DATA.iter().filter(|k| obj.contains_key(**k)).collect();
    match data.as_slice() {
        [] => {
            return Err(format!(
                "* GenerateContentRequest.{at}.data: required oneof field 'data' must have one initialized field\n"
            ));
        }
        [_] => {}
        [_, second, ..] => {
            return Err(format!(
                "Invalid value at '{}' (oneof), oneof field 'data' is already set. Cannot set '{second}'",
                snake(at)
            ));
        }
    }
    if let Some(s) = obj.get("thoughtSignature") {
        let ok = s
            .as_str()
            .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b)));
        if !ok {
            return Err(format!(
                "Invalid value at '{}.thought_signature' (TYPE_BYTES), Base64 decoding failed",
                snake(at)
            ));
        }
    }
    if let Some(fc) = obj.get("functionCall") {
        let fc = object(fc, &format!("{at}.function_call"))?;
        unknown_fields(fc, &["id", "name", "args"], &snake(&format!("{at}.functionCall")))?;
        if fc.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("* GenerateContentRequest.{at}.function_call.name: Name cannot be empty.\n"));
        }
        if fc.get("args").is_some_and(|a| !a.is_object()) {
            return Err(format!(
                "Invalid value at '{}.function_call.args' (type.googleapis.com/google.protobuf.Struct)",
                snake(at)
            ));
        }
    }
    if let Some(fr) = obj.get("functionResponse") {
        let fr = object(fr, &format!("{at}.function_response"))?;
        unknown_fields(
            fr,
            &["id", "name", "response", "parts", "willContinue", "scheduling"],
            &snake(&format!("{at}.functionResponse")),
        )?;
        if fr.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
            return Err(format!("* GenerateContentRequest.{at}.function_response.name: Name cannot be empty.\n"));
        }
        if !fr.get("response").is_some_and(Value::is_object) {
            return Err(format!(
                "Invalid value at '{}.function_response.response' (type.googleapis.com/google.protobuf.Struct)",
                snake(at)
            ));
        }
    }
    if let Some(blob) = obj.get("inlineData") {
        let mime = blob.get("mimeType").and_then(Value::as_str).unwrap_or_default();
        let data = blob.get("data").and_then(Value::as_str).unwrap_or_default();
        if mime.is_empty() || data.is_empty() {
            return Err(format!("* GenerateContentRequest.{at}.inline_data: mime_type and data must be set.\n"));
        }
        if !data.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=_-".contains(&b)) {
            return Err(format!(
                "Invalid value at '{}.inline_data.data' (TYPE_BYTES), Base64 decoding failed",
                snake(at)
            ));
        }
    }
    Ok(())
}

fn count(c: &Value, key: &str) -> usize {
    c["parts"].as_array().map_or(0, |p| p.iter().filter(|p| p.get(key).is_some()).count())
}

/// A function call turn follows a user turn or a function response turn, and the turn after
/// it answers every call.
fn function_turns(contents: &[Value]) -> Result<(), String> {
    for (i, c) in contents.iter().enumerate() {
        let calls = count(c, "functionCall");
        if calls == 0 {
            continue;
        }
        let prev_ok = i > 0 && contents[i - 1]["role"] != "model";
        if !prev_ok {
            return Err("Please ensure that function call turn comes immediately after a user turn or after a function response turn.".into());
        }
        if let Some(next) = contents.get(i + 1)
            && count(next, "functionResponse") != calls
        {
            return Err("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.".into());
        }
    }
    Ok(())
}

/// Gemini 3: in the current turn (after the last user turn that is not only function
/// responses), the first function call of every model step carries a thought signature.
fn signatures(contents: &[Value]) -> Result<(), String> {
    let start = contents.iter().rposition(|c| c["role"] != "model" && count(c, "functionResponse") == 0).unwrap_or(0);
    for c in &contents[start..] {
        let parts = c["parts"].as_array().map(Vec::as_slice).unwrap_or_default();
        if let Some((pos, first)) = parts.iter().enumerate().find(|(_, p)| p.get("functionCall").is_some())
            && first.get("thoughtSignature").is_none()
        {
            let name = first.pointer("/functionCall/name").and_then(Value::as_str).unwrap_or_default();
            return Err(format!(
                "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:{name}` , position {}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.",
                pos + 1
            ));
        }
    }
    Ok(())
}

fn generation_config(g: &Map<String, Value>) -> Result<(), String> {
    unknown_fields(g, GENERATION_FIELDS, "generation_config")?;
    let num = |k: &str| g.get(k).and_then(Value::as_f64);
    if num("temperature").is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err("* GenerateContentRequest.generation_config.temperature: must be in the range [0.0, 2.0]\n".into());
    }
    if num("topP").is_some_and(|t| !(0.0..=1.0).contains(&t)) {
        return Err("* GenerateContentRequest.generation_config.top_p: must be in the range [0.0, 1.0]\n".into());
    }
    if num("maxOutputTokens").is_some_and(|m| m < 1.0) {
        return Err(
            "* GenerateContentRequest.generation_config.max_output_tokens: max_output_tokens must be positive.\n"
                .into(),
        );
    }
    if g.get("stopSequences").and_then(Value::as_array).is_some_and(|s| s.len() > 5) {
        return Err(
            "* GenerateContentRequest.generation_config.stop_sequences: at most 5 stop sequences are allowed.\n".into(),
        );
    }
    let mime = g.get("responseMimeType").and_then(Value::as_str);
    if let Some(m) = mime
        && !matches!(m, "text/plain" | "application/json" | "text/x.enum")
    {
        return Err(format!(
            "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`. {m} is not supported.\n"
        ));
    }
    if g.contains_key("responseSchema") && g.contains_key("responseJsonSchema") {
        return Err("* GenerateContentRequest.generation_config: response_schema and response_json_schema are mutually exclusive.\n".into());
    }
    if (g.contains_key("responseSchema") || g.contains_key("responseJsonSchema")) && mime != Some("application/json") {
        return Err("* GenerateContentRequest.generation_config.response_mime_type: response_mime_type must be application/json when a response schema is set.\n".into());
    }
    if let Some(t) = g.get("thinkingConfig") {
        let t = object(t, "generation_config.thinking_config")?;
        unknown_fields(
            t,
            &["includeThoughts", "thinkingBudget", "thinkingLevel"],
            "generation_config.thinking_config",
        )?;
        if t.contains_key("thinkingBudget") && t.contains_key("thinkingLevel") {
            return Err("You can only set only one of thinking budget and thinking level.".into());
        }
    }
    Ok(())
}

fn tool_config(tc: &Map<String, Value>, declared: &[String]) -> Result<(), String> {
    unknown_fields(tc, &["functionCallingConfig", "retrievalConfig"], "tool_config")?;
    let Some(fcc) = tc.get("functionCallingConfig") else { return Ok(()) };
    let fcc = object(fcc, "tool_config.function_calling_config")?;
    unknown_fields(fcc, &["mode", "allowedFunctionNames"], "tool_config.function_calling_config")?;
    let mode = fcc.get("mode").and_then(Value::as_str).unwrap_or("AUTO");
    if !matches!(mode, "AUTO" | "ANY" | "NONE" | "VALIDATED" | "MODE_UNSPECIFIED") {
        return Err(format!(
            "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"{mode}\""
        ));
    }
    if let Some(names) = fcc.get("allowedFunctionNames").and_then(Value::as_array) {
        if !matches!(mode, "ANY" | "VALIDATED") {
            return Err("* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: allowed_function_names may only be set when mode is ANY or VALIDATED.\n".into());
        }
        if let Some(n) = names.iter().filter_map(Value::as_str).find(|n| !declared.iter().any(|d| d == n)) {
            return Err(format!(
                "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: {n} is not a declared function.\n"
            ));
        }
    }
    Ok(())
}
