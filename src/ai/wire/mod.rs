//! Wire formats of the front doors and providers, each to and from [`super::canonical`].

pub mod anthropic;
pub mod anthropic_stream;
pub mod bedrock;
pub mod bedrock_stream;
pub mod gemini;
pub mod gemini_client;
pub mod gemini_client_stream;
pub mod gemini_embed;
pub mod gemini_stream;
pub mod openai_chat;
pub mod openai_responses;
pub mod openai_responses_stream;
pub mod openai_stream;
pub mod splice;
pub mod turns;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_agents;
#[cfg(test)]
mod tests_bedrock;
#[cfg(test)]
mod tests_gemini;
#[cfg(test)]
mod tests_gemini_client;
#[cfg(test)]
mod tests_responses;
