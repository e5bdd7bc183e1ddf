// The Vercel AI SDK (`ai`, with `@ai-sdk/openai` and `@ai-sdk/anthropic`) against Sluice: a
// tool loop with generateText or streamText. Usage: node ai_sdk.mjs generate|stream
// Environment: SLUICE_BASE_URL (the gateway), SLUICE_CLIENT (openai: the Responses API, the
// provider's default; openai-chat: chat completions; anthropic), SLUICE_MODEL, SLUICE_NOTE (what
// the tool answers). Prints one JSON object: the text, the tool calls of every step, the usage.
import { generateText, jsonSchema, stepCountIs, streamText, tool } from 'ai';
import { createAnthropic } from '@ai-sdk/anthropic';
import { createOpenAI } from '@ai-sdk/openai';

const base = `${process.env.SLUICE_BASE_URL}/v1`;
const name = process.env.SLUICE_MODEL;

function model() {
  switch (process.env.SLUICE_CLIENT) {
    case 'openai':
      return createOpenAI({ baseURL: base, apiKey: 'sk-client' })(name);
    case 'openai-chat':
      return createOpenAI({ baseURL: base, apiKey: 'sk-client' }).chat(name);
    case 'anthropic':
      return createAnthropic({ baseURL: base, apiKey: 'sk-ant-client' })(name);
    default:
      throw new Error(`SLUICE_CLIENT must be openai, openai-chat or anthropic, not ${process.env.SLUICE_CLIENT}`);
  }
}

const tools = {
  read_note: tool({
    description: 'Read a note by its name',
    inputSchema: jsonSchema({ type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }),
    execute: async ({ name }) => `The note ${name} says: ${process.env.SLUICE_NOTE}`,
  }),
};

const ask = { model: model(), prompt: 'Read the note called launch and tell me what it says.', tools, stopWhen: stepCountIs(4) };

function summary(text, steps, usage) {
  return {
    text,
    steps: steps.length,
    tool_calls: steps.flatMap((s) => s.toolCalls.map((c) => ({ name: c.toolName, input: c.input }))),
    usage: { input: usage.inputTokens, output: usage.outputTokens },
  };
}

async function main(scenario) {
  if (scenario === 'generate') {
    const r = await generateText(ask);
    return summary(r.text, r.steps, r.totalUsage);
  }
  if (scenario === 'stream') {
    const r = streamText(ask);
    let streamed = '';
    for await (const delta of r.textStream) streamed += delta;
    const out = summary(await r.text, await r.steps, await r.totalUsage);
    out.streamed = streamed;
    return out;
  }
  throw new Error(`unknown scenario ${scenario}`);
}

main(process.argv[2]).then(
  (out) => console.log(JSON.stringify(out)),
  (err) => {
    console.log(JSON.stringify({ error: { name: err.name, message: err.message, status: err.statusCode ?? null } }));
  },
);
