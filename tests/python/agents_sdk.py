"""The OpenAI Agents SDK (`openai-agents`) against SLUICE_BASE_URL: a two-turn agent with a
function tool. Usage: python3 agents_sdk.py responses|chat

- responses: the Responses API; the second turn continues the first by previous_response_id
  (the gateway keeps the conversation).
- chat: chat completions; the second turn sends the first's items back as input.

Environment: SLUICE_BASE_URL, SLUICE_MODEL, SLUICE_NOTE (what the tool answers). Prints one JSON
object (see common.py).
"""

import asyncio
import os

import common
from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from openai import APIError, AsyncOpenAI


@function_tool
def read_note(name: str) -> str:
    """Read a note by its name."""
    return f"The note {name} says: {os.environ['SLUICE_NOTE']}"


async def two_turns(mode):
    set_tracing_disabled(True)
    client = AsyncOpenAI(base_url=common.base_url() + "/v1", api_key="sk-client", max_retries=0)
    name = common.model("gpt-4o-mini")
    if mode == "responses":
        model = OpenAIResponsesModel(model=name, openai_client=client)
    else:
        model = OpenAIChatCompletionsModel(model=name, openai_client=client)
    agent = Agent(name="Reader", instructions="You read notes for the user.", tools=[read_note], model=model)
    first = await Runner.run(agent, "Read the note called launch and tell me what it says.")
    if mode == "responses":
        second = await Runner.run(agent, "Thanks. Say it once more.", previous_response_id=first.last_response_id)
    else:
        second = await Runner.run(agent, first.to_input_list() + [{"role": "user", "content": "Thanks. Say it once more."}])
    calls = [
        {"name": item.raw_item.name, "arguments": item.raw_item.arguments}
        for item in first.new_items
        if item.type == "tool_call_item"
    ]
    return {
        "first": first.final_output,
        "second": second.final_output,
        "tool_calls": calls,
        "first_response_id": first.last_response_id,
        "second_response_id": second.last_response_id,
    }


def scenario(mode):
    return lambda: asyncio.run(two_turns(mode))


if __name__ == "__main__":
    common.run({"responses": scenario("responses"), "chat": scenario("chat")}, APIError)
