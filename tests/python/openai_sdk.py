"""Scenarios run with the official `openai` SDK against SLUICE_BASE_URL (the SDK's base_url is
SLUICE_BASE_URL + "/v1"). Usage: python3 openai_sdk.py SCENARIO

Environment: SLUICE_BASE_URL (required), SLUICE_API_KEY (default sk-sluice-client),
SLUICE_MODEL (default gpt-4o-mini), SLUICE_EMBEDDING_MODEL (default text-embedding-3-small).
Prints one JSON object (see common.py). Errors are reported, not retried (max_retries=0), so a
scenario is exactly one HTTP request.
"""

import os

import common
import openai

SCENARIOS = {}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "description": "Local time of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    },
]


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def client():
    return openai.OpenAI(base_url=common.base_url() + "/v1", api_key=common.api_key("sk-sluice-client"), max_retries=0)


def model():
    return common.model("gpt-4o-mini")


def dump(obj):
    return None if obj is None else obj.model_dump(mode="json")


def completion_result(resp):
    choice = resp.choices[0]
    return {
        "id": resp.id,
        "model": resp.model,
        "text": choice.message.content,
        "finish_reason": choice.finish_reason,
        "tool_calls": [
            {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}
            for c in (choice.message.tool_calls or [])
        ],
        "usage": dump(resp.usage),
    }


def stream_result(stream):
    """Reads a chat stream to the end, rebuilding text and tool calls as a client would."""
    text, finish, usage = [], None, None
    calls = {}
    content_chunks = chunks = usage_chunks = 0
    empty_choice_chunks = 0
    model_name = None
    for chunk in stream:
        chunks += 1
        model_name = chunk.model
        if chunk.usage is not None:
            usage_chunks += 1
            usage = dump(chunk.usage)
        if not chunk.choices:
            empty_choice_chunks += 1
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        if delta.content:
            content_chunks += 1
            text.append(delta.content)
        for tc in delta.tool_calls or []:
            call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
            if tc.id:
                call["id"] = tc.id
            if tc.function and tc.function.name:
                call["name"] = tc.function.name
            if tc.function and tc.function.arguments:
                call["arguments"] += tc.function.arguments
        if choice.finish_reason:
            finish = choice.finish_reason
    return {
        "model": model_name,
        "text": "".join(text),
        "finish_reason": finish,
        "tool_calls": [calls[i] for i in sorted(calls)],
        "usage": usage,
        "chunks": chunks,
        "content_chunks": content_chunks,
        "usage_chunks": usage_chunks,
        "empty_choice_chunks": empty_choice_chunks,
    }


HELLO = [{"role": "user", "content": "Say hello."}]


@scenario
def chat():
    return completion_result(client().chat.completions.create(model=model(), messages=HELLO, max_tokens=64))


@scenario
def chat_stream():
    return stream_result(client().chat.completions.create(model=model(), messages=HELLO, max_tokens=64, stream=True))


@scenario
def chat_stream_usage():
    return stream_result(
        client().chat.completions.create(
            model=model(), messages=HELLO, max_tokens=64, stream=True, stream_options={"include_usage": True}
        )
    )


WEATHER = [{"role": "user", "content": "What is the weather and the time in Paris and in Rome?"}]


@scenario
def tools():
    return completion_result(
        client().chat.completions.create(model=model(), messages=WEATHER, tools=TOOLS, tool_choice="auto", max_tokens=256)
    )


@scenario
def tools_stream():
    return stream_result(
        client().chat.completions.create(
            model=model(),
            messages=WEATHER,
            tools=TOOLS,
            max_tokens=256,
            stream=True,
            stream_options={"include_usage": True},
        )
    )


# A system prompt, a tool round trip and a follow-up question: the conversation a gateway must
# translate without losing a turn.
MULTI_TURN = [
    {"role": "system", "content": "You are a terse weather assistant."},
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_paris", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_paris", "content": '{"temperature": 21, "sky": "clear"}'},
    {"role": "user", "content": "Should I take an umbrella?"},
]


@scenario
def multi_turn():
    return completion_result(
        client().chat.completions.create(model=model(), messages=MULTI_TURN, tools=TOOLS, max_tokens=128)
    )


@scenario
def multi_turn_stream():
    return stream_result(
        client().chat.completions.create(
            model=model(),
            messages=MULTI_TURN,
            tools=TOOLS,
            max_tokens=128,
            stream=True,
            stream_options={"include_usage": True},
        )
    )


@scenario
def error():
    """A request the upstream fails: the SDK's exception class, status and message."""
    return completion_result(client().chat.completions.create(model=model(), messages=HELLO, max_tokens=64))


@scenario
def error_stream():
    return stream_result(client().chat.completions.create(model=model(), messages=HELLO, max_tokens=64, stream=True))


@scenario
def stream_cut():
    """A stream the upstream cuts: what arrived before, and how the SDK reported the end."""
    out = {"text": "", "chunks": 0}
    try:
        stream = client().chat.completions.create(
            model=model(), messages=HELLO, max_tokens=64, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            out["chunks"] += 1
            if chunk.choices and chunk.choices[0].delta.content:
                out["text"] += chunk.choices[0].delta.content
        out["error"] = None
    except Exception as err:  # noqa: BLE001 - a transport error may escape the SDK's own classes
        out["error"] = common.error_json(err)
    return out


# ---- the Responses API (client.responses) -------------------------------------------------------

RESPONSE_TOOLS = [
    {
        "type": "function",
        "name": t["function"]["name"],
        "description": t["function"]["description"],
        "parameters": t["function"]["parameters"],
        "strict": False,
    }
    for t in TOOLS
]


def response_result(resp):
    """What a client reads off a Responses `response` object."""
    return {
        "id": resp.id,
        "object": resp.object,
        "model": resp.model,
        "status": resp.status,
        "text": resp.output_text,
        "output_types": [item.type for item in resp.output],
        "tool_calls": [
            {"id": item.call_id, "item_id": item.id, "name": item.name, "arguments": item.arguments}
            for item in resp.output
            if item.type == "function_call"
        ],
        "incomplete_details": dump(resp.incomplete_details),
        "usage": dump(resp.usage),
    }


def response_stream_result(stream):
    """Reads a Responses event stream to the end: the deltas as a client rebuilds them, and the
    final response of `response.completed` (or `.incomplete`)."""
    types, text, args = [], [], {}
    sequence = []
    final = None
    for event in stream:
        types.append(event.type)
        sequence.append(event.sequence_number)
        if event.type == "response.output_text.delta":
            text.append(event.delta)
        elif event.type == "response.function_call_arguments.delta":
            args[event.item_id] = args.get(event.item_id, "") + event.delta
        elif event.type in ("response.completed", "response.incomplete", "response.failed"):
            final = event.response
    out = response_result(final) if final is not None else {"status": None, "usage": None}
    out["streamed_text"] = "".join(text)
    out["streamed_arguments"] = args
    out["event_types"] = types
    out["sequence_numbers"] = sequence
    return out


@scenario
def responses():
    return response_result(
        client().responses.create(model=model(), instructions="You are terse.", input="Say hello.", max_output_tokens=64)
    )


@scenario
def responses_stream():
    return response_stream_result(
        client().responses.create(
            model=model(), instructions="You are terse.", input="Say hello.", max_output_tokens=64, stream=True
        )
    )


@scenario
def responses_stored():
    """Stored responses as the SDK reaches them: create (stored by default), continue with
    previous_response_id (streamed), retrieve, list the input items, delete."""
    c = client()
    first = c.responses.create(model=model(), input="My name is Ada.", max_output_tokens=64)
    with c.responses.stream(model=model(), input="What is my name?", previous_response_id=first.id) as stream:
        for _ in stream:
            pass
        second = stream.get_final_response()
    got = c.responses.retrieve(first.id)
    items = c.responses.input_items.list(second.id, order="asc")
    c.responses.delete(first.id)
    try:
        c.responses.retrieve(first.id)
        after_delete = None
    except openai.NotFoundError as err:
        after_delete = {"class": type(err).__name__, "status": err.status_code}
    return {
        "first": response_result(first),
        "second": response_result(second),
        "second_previous": second.previous_response_id,
        "retrieved_text": got.output_text,
        "retrieved_id": got.id,
        "input_items": [
            {"type": i.type, "role": getattr(i, "role", None), "text": "".join(getattr(p, "text", "") for p in (getattr(i, "content", None) or []))}
            for i in items.data
        ],
        "after_delete": after_delete,
    }


RESPONSES_WEATHER = "What is the weather and the time in Paris and in Rome?"


@scenario
def responses_tools():
    return response_result(
        client().responses.create(
            model=model(), input=RESPONSES_WEATHER, tools=RESPONSE_TOOLS, tool_choice="auto", max_output_tokens=256
        )
    )


@scenario
def responses_tools_stream():
    return response_stream_result(
        client().responses.create(
            model=model(), input=RESPONSES_WEATHER, tools=RESPONSE_TOOLS, max_output_tokens=256, stream=True
        )
    )


@scenario
def responses_stream_helper():
    """The SDK's own stream helper, which rebuilds the response from the events and checks that
    each delta lands on an item and content part announced before it."""
    with client().responses.stream(
        model=model(), input=RESPONSES_WEATHER, tools=RESPONSE_TOOLS, max_output_tokens=256
    ) as stream:
        types = [event.type for event in stream]
        final = stream.get_final_response()
    out = response_result(final)
    out["event_types"] = types
    return out


# The second leg of a tool round trip: the call the model made and its output go back as input
# items, with the tools, and the model answers in text.
RESPONSES_ROUND_TRIP = [
    {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
    {
        "type": "function_call",
        "id": "fc_call_paris",
        "call_id": "call_paris",
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    },
    {"type": "function_call_output", "call_id": "call_paris", "output": '{"temperature": 21, "sky": "clear"}'},
    {"role": "user", "content": "Should I take an umbrella?"},
]


@scenario
def responses_round_trip():
    return response_result(
        client().responses.create(
            model=model(),
            instructions="You are a terse weather assistant.",
            input=RESPONSES_ROUND_TRIP,
            tools=RESPONSE_TOOLS,
            max_output_tokens=128,
        )
    )


@scenario
def responses_error():
    return response_result(client().responses.create(model=model(), input="Say hello.", max_output_tokens=64))


def embedding_model():
    return os.environ.get("SLUICE_EMBEDDING_MODEL", "text-embedding-3-small")


def embeddings_result(resp):
    return {
        "model": resp.model,
        "count": len(resp.data),
        "indexes": [d.index for d in resp.data],
        "dims": [len(d.embedding) for d in resp.data],
        "vectors": [list(d.embedding) for d in resp.data],
        "usage": dump(resp.usage),
    }


@scenario
def embeddings():
    """The SDK's default: it asks for base64 and decodes the little-endian floats itself."""
    return embeddings_result(client().embeddings.create(model=embedding_model(), input=["alpha", "beta"]))


@scenario
def embeddings_float():
    return embeddings_result(
        client().embeddings.create(model=embedding_model(), input="alpha", encoding_format="float")
    )


@scenario
def models():
    return {"ids": [m.id for m in client().models.list()]}


if __name__ == "__main__":
    common.run(SCENARIOS, openai.APIError)
