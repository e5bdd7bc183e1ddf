"""Scenarios run with the official `anthropic` SDK against SLUICE_BASE_URL (the SDK's base_url is
SLUICE_BASE_URL itself). Usage: python3 anthropic_sdk.py SCENARIO

Environment: SLUICE_BASE_URL (required), SLUICE_API_KEY (default sk-ant-sluice-client),
SLUICE_MODEL (default claude-sonnet-4-6). Prints one JSON object (see common.py). Errors are
reported, not retried (max_retries=0), so a scenario is exactly one HTTP request.
"""

import anthropic
import common

SCENARIOS = {}

TOOLS = [
    {
        "name": "get_weather",
        "description": "Current weather of a city",
        "input_schema": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"],
        },
    },
    {
        "name": "get_time",
        "description": "Local time of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
]

SYSTEM = "You are a terse assistant."


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


def client():
    return anthropic.Anthropic(base_url=common.base_url(), api_key=common.api_key("sk-ant-sluice-client"), max_retries=0)


def model():
    return common.model("claude-sonnet-4-6")


def message_result(msg, events=None):
    blocks = [b.model_dump(mode="json") for b in msg.content]
    out = {
        "id": msg.id,
        "model": msg.model,
        "text": "".join(b["text"] for b in blocks if b["type"] == "text"),
        "stop_reason": msg.stop_reason,
        "stop_sequence": msg.stop_sequence,
        "block_types": [b["type"] for b in blocks],
        "tool_uses": [{"id": b["id"], "name": b["name"], "input": b["input"]} for b in blocks if b["type"] == "tool_use"],
        "thinking": [{"thinking": b["thinking"], "signature": b["signature"]} for b in blocks if b["type"] == "thinking"],
        "usage": msg.usage.model_dump(mode="json"),
    }
    if events is not None:
        out["events"] = events
    return out


def create(**kwargs):
    return client().messages.create(model=model(), max_tokens=kwargs.pop("max_tokens", 256), **kwargs)


def stream_helper(**kwargs):
    """The SDK's `messages.stream()` helper: every event type it yields, and its final message."""
    events, text = [], []
    with client().messages.stream(model=model(), max_tokens=kwargs.pop("max_tokens", 256), **kwargs) as stream:
        for event in stream:
            events.append(event.type)
            if event.type == "text":
                text.append(event.text)
        final = stream.get_final_message()
    out = message_result(final, events)
    out["streamed_text"] = "".join(text)
    return out


HELLO = [{"role": "user", "content": "Say hello."}]


@scenario
def messages():
    return message_result(create(system=SYSTEM, messages=HELLO))


@scenario
def messages_stream():
    return stream_helper(system=SYSTEM, messages=HELLO)


@scenario
def messages_stream_raw():
    """`create(stream=True)`: the raw events, and usage as a raw-stream client adds it up
    (message_start's usage, overwritten field by field by message_delta's)."""
    events, text, usage, stop = [], [], {}, None
    for event in create(system=SYSTEM, messages=HELLO, stream=True):
        events.append(event.type)
        if event.type == "message_start":
            usage = event.message.usage.model_dump(mode="json")
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            text.append(event.delta.text)
        elif event.type == "message_delta":
            stop = event.delta.stop_reason
            for key, value in event.usage.model_dump(mode="json").items():
                if value is not None:
                    usage[key] = value
    return {"events": events, "text": "".join(text), "stop_reason": stop, "usage": usage}


WEATHER = [{"role": "user", "content": "What is the weather and the time in Paris and in Rome?"}]


@scenario
def tools():
    return message_result(create(messages=WEATHER, tools=TOOLS, tool_choice={"type": "auto"}))


@scenario
def tools_stream():
    return stream_helper(messages=WEATHER, tools=TOOLS)


MULTI_TURN = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_paris", "name": "get_weather", "input": {"city": "Paris"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_paris", "content": '{"temperature": 21, "sky": "clear"}'},
            {"type": "text", "text": "Should I take an umbrella?"},
        ],
    },
]


@scenario
def multi_turn():
    return message_result(create(system="You are a terse weather assistant.", messages=MULTI_TURN, tools=TOOLS))


@scenario
def multi_turn_stream():
    return stream_helper(system="You are a terse weather assistant.", messages=MULTI_TURN, tools=TOOLS)


@scenario
def thinking():
    return stream_helper(messages=HELLO, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024})


@scenario
def error():
    """A request the upstream fails: the SDK's exception class, status and message."""
    return message_result(create(messages=HELLO))


@scenario
def error_stream():
    return stream_helper(messages=HELLO)


@scenario
def stream_cut():
    """A stream the upstream cuts: what arrived before, and how the SDK reported the end."""
    out = {"text": "", "events": []}
    try:
        with client().messages.stream(model=model(), max_tokens=256, messages=HELLO) as stream:
            for event in stream:
                out["events"].append(event.type)
                if event.type == "text":
                    out["text"] += event.text
        out["error"] = None
    except Exception as err:  # noqa: BLE001 - a transport error may escape the SDK's own classes
        out["error"] = common.error_json(err)
    return out


@scenario
def count_tokens():
    resp = client().messages.count_tokens(model=model(), system=SYSTEM, messages=HELLO, tools=TOOLS)
    return {"input_tokens": resp.input_tokens}


if __name__ == "__main__":
    common.run(SCENARIOS, anthropic.APIError)
