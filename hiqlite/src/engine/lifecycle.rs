//! What a running node must stop at shutdown, and the order it stops in.

use std::sync::{Arc, Mutex};

use tokio::task::JoinHandle;

use super::error::Error;
use super::Engine;

/// Owns the tasks of a running node (listeners, bootstrap, watchers) and the signal that stops
/// them. `node::start_node` fills it; the embedded [`Client`](crate::Client) stops the node with it.
#[derive(Clone)]
pub struct NodeHandle {
    inner: Arc<Mutex<Option<Running>>>,
}

struct Running {
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl NodeHandle {
    /// A handle that stops `tasks` by sending `true` on `shutdown`.
    pub(crate) fn new(
        shutdown: tokio::sync::watch::Sender<bool>,
        tasks: Vec<JoinHandle<()>>,
    ) -> NodeHandle {
        NodeHandle {
            inner: Arc::new(Mutex::new(Some(Running { shutdown, tasks }))),
        }
    }

    /// A receiver of the node's shutdown signal (`true` once it stops), or `None` when it
    /// already stopped.
    pub(crate) fn shutdown_signal(&self) -> Option<tokio::sync::watch::Receiver<bool>> {
        let running = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        running.as_ref().map(|r| r.shutdown.subscribe())
    }

    /// Hands leadership over (if this node leads), stops the listeners and the node's own tasks,
    /// then Raft; waits for each to finish. Idempotent.
    ///
    /// The listeners stop first, so no request from a peer or a client reaches Raft after it
    /// stopped (openraft logs each such call as an error).
    pub(crate) async fn shutdown(&self, node: &Engine) -> Result<(), Error> {
        let Some(running) = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(());
        };
        node.begin_shutdown();
        node.hand_over_leadership().await;
        let _ = running.shutdown.send(true);
        for task in running.tasks {
            let _ = task.await;
        }
        let raft_result = node.raft.shutdown().await;
        node.reads.close();
        raft_result.map_err(|e| Error::Raft(format!("Raft did not stop cleanly: {e}")))
    }
}
