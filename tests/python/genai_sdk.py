"""Scenarios run with Google's official `google-genai` SDK against SLUICE_BASE_URL (the SDK's
base_url; it adds `/v1beta/models/...` itself). Usage: python3 genai_sdk.py SCENARIO

Environment: SLUICE_BASE_URL (required), SLUICE_API_KEY (default AIza-sluice-client),
SLUICE_MODEL (default gemini-2.5-flash), SLUICE_EMBEDDING_MODEL. Prints one JSON object (see
common.py). The SDK's retries are off, so a scenario is exactly one HTTP request per call.
"""

import base64
import os

import common
from google import genai
from google.genai import errors, types

SCENARIOS = {}

TOOLS = [
    types.Tool(
        function_declarations=[
            types.FunctionDeclaration(
                name="get_weather",
                description="Current weather of a city",
                parameters_json_schema={
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                    "required": ["city"],
                },
            ),
            types.FunctionDeclaration(
                name="get_time",
                description="Local time of a city",
                parameters=types.Schema(
                    type="OBJECT", properties={"city": types.Schema(type="STRING")}, required=["city"]
                ),
            ),
        ]
    )
]


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


_CLIENT = []


def client():
    """One client for the scenario: a client no longer referenced closes its connections."""
    if not _CLIENT:
        _CLIENT.append(_new_client())
    return _CLIENT[0]


def _new_client():
    return genai.Client(
        api_key=common.api_key("AIza-sluice-client"),
        http_options=types.HttpOptions(
            base_url=common.base_url(), retry_options=types.HttpRetryOptions(attempts=1), timeout=60_000
        ),
    )


def model():
    return common.model("gemini-2.5-flash")


def usage_of(u):
    if u is None:
        return None
    return {
        "prompt": u.prompt_token_count,
        "candidates": u.candidates_token_count,
        "total": u.total_token_count,
        "cached": u.cached_content_token_count,
        "thoughts": u.thoughts_token_count,
    }


def calls_of(parts):
    return [{"id": p.function_call.id, "name": p.function_call.name, "args": p.function_call.args} for p in parts if p.function_call]


def response_result(r):
    c = r.candidates[0] if r.candidates else None
    parts = (c.content.parts or []) if c and c.content else []
    return {
        "text": "".join(p.text for p in parts if p.text and not p.thought),
        "thoughts": "".join(p.text for p in parts if p.text and p.thought),
        # The SDK decodes signatures (base64 on the wire) to bytes: encoded again to compare.
        "signatures": [base64.b64encode(p.thought_signature).decode() for p in parts if p.thought_signature],
        "finish_reason": c.finish_reason.value if c and c.finish_reason else None,
        "function_calls": calls_of(parts),
        "usage": usage_of(r.usage_metadata),
        "model_version": r.model_version,
    }


@scenario
def chat():
    r = client().models.generate_content(
        model=model(), contents="Say hello.", config=types.GenerateContentConfig(max_output_tokens=64)
    )
    return response_result(r)


@scenario
def chat_system():
    r = client().models.generate_content(
        model=model(),
        contents="Say hello.",
        config=types.GenerateContentConfig(system_instruction="You are terse.", temperature=0.2, stop_sequences=["END"]),
    )
    return response_result(r)


@scenario
def chat_stream():
    text, chunks, finish, usage, version = [], 0, None, None, None
    for chunk in client().models.generate_content_stream(
        model=model(), contents="Say hello, slowly.", config=types.GenerateContentConfig(max_output_tokens=64)
    ):
        chunks += 1
        c = chunk.candidates[0] if chunk.candidates else None
        for p in (c.content.parts or []) if c and c.content else []:
            if p.text and not p.thought:
                text.append(p.text)
        if c and c.finish_reason:
            finish = c.finish_reason.value
        if chunk.usage_metadata:
            usage = usage_of(chunk.usage_metadata)
        version = chunk.model_version or version
    return {"text": "".join(text), "chunks": chunks, "finish_reason": finish, "usage": usage, "model_version": version}


@scenario
def tools():
    r = client().models.generate_content(
        model=model(),
        contents="Weather in Paris and the time in Rome?",
        config=types.GenerateContentConfig(
            tools=TOOLS, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    )
    return response_result(r)


@scenario
def tools_stream():
    calls, text, finish = [], [], None
    for chunk in client().models.generate_content_stream(
        model=model(),
        contents="Weather in Paris and the time in Rome?",
        config=types.GenerateContentConfig(
            tools=TOOLS, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    ):
        c = chunk.candidates[0] if chunk.candidates else None
        parts = (c.content.parts or []) if c and c.content else []
        calls.extend(calls_of(parts))
        text.extend(p.text for p in parts if p.text and not p.thought)
        if c and c.finish_reason:
            finish = c.finish_reason.value
    return {"function_calls": calls, "text": "".join(text), "finish_reason": finish}


@scenario
def tool_loop():
    """A second turn: the model's calls (without ids, as Gemini makes them) and their answers."""
    history = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris and the time in Rome?")]),
        types.Content(
            role="model",
            parts=[
                types.Part(function_call=types.FunctionCall(name="get_weather", args={"city": "Paris"})),
                types.Part(function_call=types.FunctionCall(name="get_time", args={"city": "Rome"})),
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(function_response=types.FunctionResponse(name="get_weather", response={"output": "18C, cloudy"})),
                types.Part(function_response=types.FunctionResponse(name="get_time", response={"output": "14:05"})),
            ],
        ),
    ]
    r = client().models.generate_content(
        model=model(),
        contents=history,
        config=types.GenerateContentConfig(
            tools=TOOLS, automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True)
        ),
    )
    return response_result(r)


@scenario
def count_tokens():
    r = client().models.count_tokens(model=model(), contents="How many tokens are in this sentence?")
    return {"total_tokens": r.total_tokens}


@scenario
def embed():
    r = client().models.embed_content(
        model=os.environ.get("SLUICE_EMBEDDING_MODEL", "gemini-embedding-001"), contents=["first text", "second text"]
    )
    return {"embeddings": [len(e.values) for e in r.embeddings], "first": r.embeddings[0].values[:3]}


@scenario
def models_list():
    return {"models": sorted(m.name for m in client().models.list())}


@scenario
def unknown_model():
    r = client().models.generate_content(model="no-such-model", contents="hi")
    return response_result(r)


def sdk_error_json(err):
    return {"class": type(err).__name__, "status": err.code, "message": err.message, "body": err.status}


if __name__ == "__main__":
    import json
    import sys

    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        sys.exit(f"usage: {sys.argv[0]} SCENARIO (one of: {', '.join(sorted(SCENARIOS))})")
    name = sys.argv[1]
    try:
        result = SCENARIOS[name]()
    except errors.APIError as err:
        result = {"error": sdk_error_json(err)}
    result["scenario"] = name
    json.dump(result, sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
