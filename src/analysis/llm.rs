//! The model client: any OpenAI-compatible chat endpoint (OpenAI, Azure OpenAI, vLLM, Ollama,
//! LiteLLM) through async-openai, with one forced named tool. Retries on 429/5xx with backoff
//! and `Retry-After` come from async-openai's client; this module adds the deadline, the
//! shared concurrency limit, one repair round for invalid arguments, and token accounting.
//! The answer is streamed (`llm.stream`), so a deadline that passes closes the connection and
//! a self-hosted server stops generating for an answer nobody will read.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls, ChatCompletionNamedToolChoice,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestToolMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, ChatCompletionTool,
    ChatCompletionToolChoiceOption, ChatCompletionTools, CompletionUsage,
    CreateChatCompletionRequest, CreateChatCompletionRequestArgs, FinishReason, FunctionCall,
    FunctionName, FunctionObject, ToolChoiceOptions,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::prompt::Prompt;
use super::schema::{TOOL_NAME, Triage, triage_schema};
use crate::config::{LlmSettings, MaxTokensField, Secrets, ToolChoice};

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("model request failed: {0}")]
    Request(String),
    #[error("model did not answer within {0} s")]
    Timeout(u64),
    #[error("model output was truncated at the {0}-token limit")]
    Truncated(u32),
    #[error("model output was withheld by a content filter")]
    ContentFilter,
    #[error("model answered without calling {TOOL_NAME}")]
    NoToolCall,
    #[error("model arguments were invalid after one repair: {0}")]
    InvalidArguments(String),
}

/// Tokens and money one analysis spent on one model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub model: String,
    pub requests: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
    pub elapsed_ms: u64,
}

#[derive(Debug)]
pub struct Answer {
    pub triage: Triage,
    pub usage: Usage,
}

pub struct LlmClient {
    settings: LlmSettings,
    api_key: Option<SecretString>,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
}

impl LlmClient {
    /// `None` when no model is configured: no API key and no base URL.
    pub fn from_settings(settings: &LlmSettings, secrets: &Secrets) -> Option<Self> {
        if secrets.openai_api_key.is_none() && settings.base_url.is_empty() {
            return None;
        }
        Some(Self {
            settings: settings.clone(),
            api_key: secrets.openai_api_key.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(settings.timeout_secs))
                .build()
                .unwrap_or_default(),
            permits: Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
        })
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    fn client(&self, model: &str) -> Client<Box<dyn Config>> {
        let key = self
            .api_key
            .as_ref()
            .map_or("", |k| k.expose_secret())
            .to_string();
        let config: Box<dyn Config> = if self.settings.provider == crate::config::LlmProvider::Azure
        {
            Box::new(
                AzureConfig::new()
                    .with_api_base(self.settings.base_url.clone())
                    .with_api_version(self.settings.azure_api_version.clone())
                    .with_deployment_id(model)
                    .with_api_key(key),
            )
        } else {
            let mut config = OpenAIConfig::new().with_api_key(key);
            if !self.settings.base_url.is_empty() {
                config = config.with_api_base(self.settings.base_url.trim_end_matches('/'));
            }
            Box::new(config)
        };
        Client::with_config(config).with_http_client(self.http.clone())
    }

    /// Asks `model` to call `submit_triage` for `prompt`; one repair round on invalid
    /// arguments.
    #[tracing::instrument(skip_all, fields(model = model))]
    pub async fn submit_triage(&self, model: &str, prompt: &Prompt) -> Result<Answer, LlmError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| LlmError::Request("the model client is shut down".into()))?;
        let started = Instant::now();
        let client = self.client(model);
        let mut usage = Usage {
            model: model.to_string(),
            ..Usage::default()
        };
        let mut messages = vec![
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage::from(
                prompt.system.as_str(),
            )),
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage::from(
                prompt.user.as_str(),
            )),
        ];
        let mut choice = self.settings.tool_choice;
        let mut last_error = String::new();
        for round in 0..2 {
            let call = match self
                .call(&client, model, &messages, choice, &mut usage)
                .await
            {
                // Some servers ignore the named form; with one tool, `required` is the same.
                Err(LlmError::NoToolCall) if choice == ToolChoice::Named => {
                    tracing::warn!(
                        "no tool call for a named tool choice; retrying with `required`"
                    );
                    choice = ToolChoice::Required;
                    self.call(&client, model, &messages, choice, &mut usage)
                        .await?
                }
                other => other?,
            };
            match parse_arguments(&call.arguments) {
                Ok(triage) => {
                    usage.elapsed_ms = started.elapsed().as_millis() as u64;
                    return Ok(Answer { triage, usage });
                }
                // Arguments that end mid-value were cut off, whatever the server reported:
                // a repair would only be cut again.
                Err(error) if error.contains("EOF while parsing") => {
                    tracing::warn!(%error, "model arguments end mid-value; truncated");
                    return Err(LlmError::Truncated(self.settings.max_output_tokens));
                }
                Err(error) if round == 0 => {
                    tracing::warn!(%error, "model arguments invalid; asking for a repair");
                    last_error = error.clone();
                    messages.extend(repair(call, &error));
                }
                Err(error) => last_error = error,
            }
        }
        Err(LlmError::InvalidArguments(last_error))
    }

    async fn call(
        &self,
        client: &Client<Box<dyn Config>>,
        model: &str,
        messages: &[ChatCompletionRequestMessage],
        choice: ToolChoice,
        usage: &mut Usage,
    ) -> Result<ToolCall, LlmError> {
        let mut request = CreateChatCompletionRequestArgs::default();
        request
            .model(model)
            .messages(messages.to_vec())
            .tools(vec![ChatCompletionTools::Function(ChatCompletionTool {
                function: FunctionObject {
                    name: TOOL_NAME.into(),
                    description: Some("Submit the triage of this incident.".into()),
                    parameters: Some(triage_schema()),
                    strict: Some(true),
                },
            })])
            .tool_choice(match choice {
                ToolChoice::Named => {
                    ChatCompletionToolChoiceOption::Function(ChatCompletionNamedToolChoice {
                        function: FunctionName {
                            name: TOOL_NAME.into(),
                        },
                    })
                }
                ToolChoice::Required => {
                    ChatCompletionToolChoiceOption::Mode(ToolChoiceOptions::Required)
                }
            })
            .parallel_tool_calls(false)
            .temperature(self.settings.temperature);
        let limit = self.settings.max_output_tokens;
        let self_hosted = !self.settings.base_url.is_empty()
            && self.settings.provider == crate::config::LlmProvider::Openai;
        match (self.settings.max_tokens_field, self_hosted) {
            (MaxTokensField::MaxTokens, _) | (MaxTokensField::Auto, true) => {
                // Deprecated by OpenAI, but the only limit llama.cpp, Ollama and LM Studio read.
                #[allow(deprecated)]
                request.max_tokens(limit);
            }
            (MaxTokensField::MaxCompletionTokens, _) | (MaxTokensField::Auto, false) => {
                request.max_completion_tokens(limit);
            }
        }
        if self.settings.stream {
            request
                .stream(true)
                .stream_options(ChatCompletionStreamOptions {
                    include_usage: Some(true),
                    include_obfuscation: None,
                });
        }
        let request = request
            .build()
            .map_err(|e| LlmError::Request(e.to_string()))?;
        // The deadline covers the whole answer. Streamed, giving up drops the stream, which
        // closes the connection, so the server stops generating instead of holding its slot.
        let deadline = Duration::from_secs(self.settings.timeout_secs);
        let reply = if self.settings.stream {
            tokio::time::timeout(deadline, streamed(client, request)).await
        } else {
            tokio::time::timeout(deadline, whole(client, request)).await
        }
        .map_err(|_| LlmError::Timeout(self.settings.timeout_secs))??;
        usage.requests += 1;
        let mut completion_tokens = reply.streamed_tokens.unwrap_or(0);
        if let Some(u) = &reply.usage {
            completion_tokens = u.completion_tokens;
            let cached = u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0);
            usage.prompt_tokens += u64::from(u.prompt_tokens);
            usage.completion_tokens += u64::from(u.completion_tokens);
            usage.cached_tokens += u64::from(cached);
            let uncached = u.prompt_tokens.saturating_sub(cached);
            usage.cost_usd += (f64::from(uncached) * self.settings.input_usd_per_mtok
                + f64::from(cached) * self.settings.cached_input_usd_per_mtok
                + f64::from(u.completion_tokens) * self.settings.output_usd_per_mtok)
                / 1_000_000.0;
        }
        // Some servers report `tool_calls` or `stop` even when they stopped at the limit:
        // the token count decides.
        let at_limit = limit > 0 && completion_tokens >= limit;
        match reply.finish_reason {
            Some(FinishReason::Length) => return Err(LlmError::Truncated(limit)),
            Some(FinishReason::ContentFilter) => return Err(LlmError::ContentFilter),
            _ if at_limit => return Err(LlmError::Truncated(limit)),
            _ => {}
        }
        // A forced named tool often ends with finish_reason "stop": the call is what counts.
        match reply.call {
            Some(call) => Ok(call),
            // Some OpenAI-compatible servers put the JSON in the content instead.
            None => reply
                .content
                .filter(|c| c.trim_start().starts_with('{'))
                .map(|arguments| ToolCall {
                    id: CONTENT_CALL_ID.into(),
                    arguments,
                })
                .ok_or(LlmError::NoToolCall),
        }
    }
}

/// What one request answered, streamed or whole.
#[derive(Debug, Default)]
struct Reply {
    finish_reason: Option<FinishReason>,
    usage: Option<CompletionUsage>,
    call: Option<ToolCall>,
    content: Option<String>,
    /// Text pieces streamed, the token count when the server sent no usage.
    streamed_tokens: Option<u32>,
}

/// The answer in one response body.
async fn whole(
    client: &Client<Box<dyn Config>>,
    request: CreateChatCompletionRequest,
) -> Result<Reply, LlmError> {
    let response = client.chat().create(request).await.map_err(describe)?;
    let choice = response
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| LlmError::Request("the reply had no choices".into()))?;
    let call = choice
        .message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .find_map(|call| match call {
            ChatCompletionMessageToolCalls::Function(call) if call.function.name == TOOL_NAME => {
                Some(ToolCall {
                    id: call.id,
                    arguments: call.function.arguments,
                })
            }
            _ => None,
        });
    Ok(Reply {
        finish_reason: choice.finish_reason,
        usage: response.usage,
        call,
        content: choice.message.content,
        streamed_tokens: None,
    })
}

/// The answer assembled from a server-sent event stream: tool-call argument deltas joined by
/// call index, content deltas joined, the finish reason and the usage chunk kept.
async fn streamed(
    client: &Client<Box<dyn Config>>,
    request: CreateChatCompletionRequest,
) -> Result<Reply, LlmError> {
    use futures::StreamExt;

    let mut stream = client
        .chat()
        .create_stream(request)
        .await
        .map_err(describe)?;
    let mut reply = Reply::default();
    // (index, id, name, arguments) per tool call as it streams in.
    let mut calls: Vec<(u32, String, String, String)> = Vec::new();
    let mut content = String::new();
    let mut chunks = 0usize;
    // Pieces of text received: about one token each on llama.cpp, which sends no usage chunk.
    let mut deltas = 0u32;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(describe)?;
        chunks += 1;
        if chunk.usage.is_some() {
            reply.usage = chunk.usage;
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if choice.finish_reason.is_some() {
                reply.finish_reason = choice.finish_reason;
            }
            if let Some(text) = choice.delta.content {
                deltas += u32::from(!text.is_empty());
                content.push_str(&text);
            }
            for delta in choice.delta.tool_calls.unwrap_or_default() {
                let at = match calls.iter().position(|c| c.0 == delta.index) {
                    Some(at) => at,
                    None => {
                        calls.push((delta.index, String::new(), String::new(), String::new()));
                        calls.len() - 1
                    }
                };
                let entry = &mut calls[at];
                if let Some(id) = delta.id {
                    entry.1 = id;
                }
                if let Some(function) = delta.function {
                    // OpenAI names the function once; llama-cpp-python repeats it every delta.
                    let name = function.name.unwrap_or_default();
                    if entry.2.is_empty() {
                        entry.2 = name;
                    } else if name != entry.2 {
                        entry.2.push_str(&name);
                    }
                    let piece = function.arguments.unwrap_or_default();
                    if !piece.is_empty() {
                        deltas += 1;
                    }
                    entry.3.push_str(&piece);
                }
            }
        }
    }
    if chunks == 0 {
        return Err(LlmError::Request(
            "the server sent no stream events; set llm.stream = false for a server that \
             answers streamed requests with one JSON body"
                .into(),
        ));
    }
    reply.call = calls
        .into_iter()
        .find(|(_, _, name, _)| name == TOOL_NAME)
        .map(|(_, id, _, arguments)| ToolCall { id, arguments });
    reply.content = (!content.is_empty()).then_some(content);
    reply.streamed_tokens = Some(deltas);
    Ok(reply)
}

/// The id given to arguments a server put in the message content instead of a tool call.
const CONTENT_CALL_ID: &str = "call_submit_triage";

/// One `submit_triage` call as the model made it.
#[derive(Debug, Clone)]
struct ToolCall {
    id: String,
    arguments: String,
}

/// The repair turn in the standard tool-call form: the assistant's call as it was made, then
/// the tool's answer with the error. Roles keep alternating (system, user, assistant, tool),
/// which strict chat templates (Mistral's among them) require.
fn repair(call: ToolCall, error: &str) -> [ChatCompletionRequestMessage; 2] {
    let id = if call.id.is_empty() {
        CONTENT_CALL_ID.to_string()
    } else {
        call.id
    };
    let assistant = ChatCompletionRequestAssistantMessage {
        // Empty, not absent: chat templates that read `message.content` (llama-cpp-python's
        // chatml-function-calling among them) fail on an assistant message without it.
        content: Some("".into()),
        tool_calls: Some(vec![ChatCompletionMessageToolCalls::Function(
            ChatCompletionMessageToolCall {
                id: id.clone(),
                function: FunctionCall {
                    name: TOOL_NAME.into(),
                    arguments: call.arguments.chars().take(8000).collect(),
                },
            },
        )]),
        ..Default::default()
    };
    let tool = ChatCompletionRequestToolMessage {
        content: format!(
            "Rejected: {error}. Call {TOOL_NAME} again with arguments that match its schema exactly."
        )
        .into(),
        tool_call_id: id,
    };
    [
        ChatCompletionRequestMessage::Assistant(assistant),
        ChatCompletionRequestMessage::Tool(tool),
    ]
}

fn parse_arguments(arguments: &str) -> Result<Triage, String> {
    serde_json::from_str::<Triage>(arguments).map_err(|e| e.to_string())
}

fn describe(error: OpenAIError) -> LlmError {
    LlmError::Request(match error {
        OpenAIError::ApiError(api) => format!(
            "HTTP {}: {}",
            api.status_code.as_u16(),
            api.api_error.message
        ),
        OpenAIError::Reqwest(e) if e.is_timeout() => "request timed out".into(),
        OpenAIError::Reqwest(e) if e.is_connect() => "could not connect".into(),
        OpenAIError::Reqwest(e) => format!(
            "transport error{}",
            e.status()
                .map_or(String::new(), |s| format!(" (HTTP {})", s.as_u16()))
        ),
        OpenAIError::JSONDeserialize(e, _) => format!("unreadable reply: {e}"),
        other => other.to_string(),
    })
}
