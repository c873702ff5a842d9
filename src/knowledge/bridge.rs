//! The index is synchronous (it runs on blocking threads); the embeddings and Qdrant server
//! clients are async. A `Bridge` owns a small runtime, runs each call on it and waits for the
//! answer, so callers work from any thread, async or not.

use std::future::Future;
use std::sync::mpsc;

use super::KnowledgeError;

pub(crate) struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    pub(crate) fn new(thread_name: &str) -> Result<Self, KnowledgeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map_err(|e| KnowledgeError(format!("{thread_name} runtime: {e}")))?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, KnowledgeError> {
        self.runtime
            .as_ref()
            .ok_or_else(|| KnowledgeError("the client runtime is shut down".into()))
    }

    /// Makes the runtime current, for clients that spawn tasks when built.
    pub(crate) fn enter(&self) -> Result<tokio::runtime::EnterGuard<'_>, KnowledgeError> {
        Ok(self.runtime()?.enter())
    }

    /// Runs `call` on the runtime and waits for its output.
    pub(crate) fn run<T, F>(&self, call: F) -> Result<T, KnowledgeError>
    where
        T: Send + 'static,
        F: Future<Output = T> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel();
        self.runtime()?.spawn(async move {
            let _ = tx.send(call.await);
        });
        rx.recv()
            .map_err(|_| KnowledgeError("the client call was dropped".into()))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Never blocks, so the index can be dropped from async code.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
