//! Optional dense embeddings from any OpenAI-compatible embeddings endpoint (OpenAI, Azure
//! OpenAI, vLLM, Ollama, LiteLLM, TEI behind a proxy) through async-openai, batched. With an
//! embedder the index stores a `dense` vector beside `bm25` and queries fuse both (see `search`);
//! without one, BM25 alone.
//!
//! Calls go through the embedder's own `Bridge`, so it works from any caller.

use std::sync::Arc;
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput,
};
use secrecy::{ExposeSecret, SecretString};

use super::KnowledgeError;
use super::bridge::Bridge;
use crate::config::EmbeddingSettings;

#[derive(Clone)]
pub struct Embedder {
    base_url: String,
    model: String,
    dimensions: usize,
    batch_size: usize,
    timeout: Duration,
    api_key: Option<SecretString>,
    query_prefix: String,
    document_prefix: String,
    query_input_type: String,
    document_input_type: String,
    /// One client and one small runtime for every call: building a TLS client per query
    /// cost tens of milliseconds.
    shared: Arc<Shared>,
}

struct Shared {
    bridge: Bridge,
    client: std::sync::OnceLock<Client<OpenAIConfig>>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("dimensions", &self.dimensions)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// `None` when no embeddings model is configured (or its runtime cannot start).
    pub fn from_settings(
        settings: &EmbeddingSettings,
        api_key: Option<SecretString>,
    ) -> Option<Self> {
        if settings.model.is_empty() || settings.dimensions == 0 {
            return None;
        }
        let bridge = Bridge::new("triaged-embeddings").ok()?;
        Some(Self {
            base_url: settings.base_url.clone(),
            model: settings.model.clone(),
            dimensions: settings.dimensions,
            batch_size: settings.batch_size.max(1),
            timeout: Duration::from_secs(settings.timeout_secs.max(1)),
            api_key,
            query_prefix: settings.query_prefix.clone(),
            document_prefix: settings.document_prefix.clone(),
            query_input_type: settings.query_input_type.clone(),
            document_input_type: settings.document_input_type.clone(),
            shared: Arc::new(Shared {
                bridge,
                client: std::sync::OnceLock::new(),
            }),
        })
    }

    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// What the vectors depend on besides their dimensions: the model, and the input prefixes
    /// and types when set (a change means the stored vectors no longer compare with new
    /// queries).
    pub fn identity(&self) -> String {
        let mut identity = self.model.clone();
        if !self.query_prefix.is_empty() || !self.document_prefix.is_empty() {
            identity.push_str(&format!(
                " (query {:?}, document {:?})",
                self.query_prefix, self.document_prefix
            ));
        }
        if !self.query_input_type.is_empty() || !self.document_input_type.is_empty() {
            identity.push_str(&format!(
                " (input_type {:?}/{:?})",
                self.query_input_type, self.document_input_type
            ));
        }
        identity
    }

    /// Embeds chunks to index, each with the document prefix and input type.
    pub fn embed_documents(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        self.embed(texts, &self.document_prefix, &self.document_input_type)
    }

    /// Embeds one search query, with the query prefix and input type.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, KnowledgeError> {
        self.embed_queries(&[query.to_string()])?
            .pop()
            .ok_or_else(|| KnowledgeError("the embeddings endpoint returned no vector".into()))
    }

    /// Embeds several search queries in one request.
    pub fn embed_queries(&self, queries: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        self.embed(queries, &self.query_prefix, &self.query_input_type)
    }

    /// Embeds `texts` in batches, each with `prefix`; every vector must have the configured
    /// dimensions.
    fn embed(
        &self,
        texts: &[String],
        prefix: &str,
        input_type: &str,
    ) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let mut out = Vec::with_capacity(texts.len());
        for batch in texts.chunks(self.batch_size) {
            let this = self.clone();
            let batch: Vec<String> = batch.iter().map(|t| format!("{prefix}{t}")).collect();
            let input_type = input_type.to_string();
            out.extend(
                self.shared
                    .bridge
                    .run(async move { this.request(batch, &input_type).await })??,
            );
        }
        Ok(out)
    }

    fn client(&self) -> &Client<OpenAIConfig> {
        self.shared.client.get_or_init(|| {
            let mut config = OpenAIConfig::new().with_api_key(
                self.api_key
                    .as_ref()
                    .map_or("", |k| k.expose_secret())
                    .to_string(),
            );
            if !self.base_url.is_empty() {
                config = config.with_api_base(self.base_url.trim_end_matches('/'));
            }
            let http = reqwest::Client::builder()
                .timeout(self.timeout)
                .build()
                .unwrap_or_default();
            Client::with_config(config).with_http_client(http)
        })
    }

    async fn request(
        &self,
        batch: Vec<String>,
        input_type: &str,
    ) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let client = self.client();
        let count = batch.len();
        let request = CreateEmbeddingRequest {
            model: self.model.clone(),
            input: EmbeddingInput::StringArray(batch),
            encoding_format: None,
            user: None,
            dimensions: Some(self.dimensions as u32),
        };
        let failed = |e: async_openai::error::OpenAIError| {
            KnowledgeError(format!("embeddings ({}): {e}", self.model))
        };
        let response: CreateEmbeddingResponse = if input_type.is_empty() {
            client.embeddings().create(request).await.map_err(failed)?
        } else {
            // The typed request has no `input_type`: the same body with it added.
            let mut body = serde_json::to_value(&request)
                .map_err(|e| KnowledgeError(format!("embeddings request: {e}")))?;
            body["input_type"] = serde_json::Value::String(input_type.to_string());
            client
                .embeddings()
                .create_byot(body)
                .await
                .map_err(failed)?
        };
        let mut data = response.data;
        if data.len() != count {
            return Err(KnowledgeError(format!(
                "embeddings: asked for {count} vectors, got {}",
                data.len()
            )));
        }
        data.sort_by_key(|e| e.index);
        data.into_iter()
            .map(|e| {
                if e.embedding.len() == self.dimensions {
                    Ok(e.embedding)
                } else {
                    Err(KnowledgeError(format!(
                        "embeddings: expected {} dimensions, got {}",
                        self.dimensions,
                        e.embedding.len()
                    )))
                }
            })
            .collect()
    }
}
