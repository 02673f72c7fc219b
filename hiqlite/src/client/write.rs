//! The write methods' one implementation, for [`Client`]'s own writes (a fresh request id each)
//! and for [`KeyedWrite`](super::KeyedWrite)s (the caller's [`WriteKey`]): build the entry,
//! replicate it, and turn the state machine's output into the method's result.

use super::{resolve, Client, ExecuteResult, Txn};
use crate::engine::error::Error;
use crate::types::command::{Rows, StatementOutput, WriteOp, WriteOutput};
use crate::types::params::IntoParams;
use crate::types::write_key::WriteKey;

/// The request id a write goes under.
#[derive(Debug, Clone, Copy)]
pub(super) enum WriteId {
    /// A new one from the client's sequence: the client's own retries apply it once.
    Fresh,
    /// A write key's: every later write under it gets the first one's result.
    Key(WriteKey),
}

impl Client {
    async fn write_under(&self, id: WriteId, op: WriteOp) -> Result<WriteOutput, Error> {
        match id {
            WriteId::Fresh => self.write(op).await,
            WriteId::Key(key) => self.write_as(key.request_id(), op).await,
        }
    }

    pub(super) async fn execute_under(
        &self,
        id: WriteId,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<ExecuteResult, Error> {
        let (sql, params) = resolve(sql, params)?;
        match self
            .write_under(id, WriteOp::Execute { sql, params })
            .await?
        {
            WriteOutput::Executed {
                rows_affected,
                last_insert_rowid,
            } => Ok(ExecuteResult {
                rows_affected,
                last_insert_rowid,
            }),
            other => Err(other_output(id, &other, "execute")),
        }
    }

    pub(super) async fn execute_returning_rows_under(
        &self,
        id: WriteId,
        sql: impl Into<String>,
        params: impl IntoParams,
    ) -> Result<Rows, Error> {
        let (sql, params) = resolve(sql, params)?;
        match self
            .write_under(id, WriteOp::ExecuteReturning { sql, params })
            .await?
        {
            WriteOutput::Rows(rows) => Ok(rows),
            other => Err(other_output(id, &other, "execute_returning")),
        }
    }

    pub(super) async fn txn_under(
        &self,
        id: WriteId,
        txn: Txn,
    ) -> Result<Vec<StatementOutput>, Error> {
        if let Some(e) = txn.params_error {
            return Err(e.into());
        }
        let op = WriteOp::Txn {
            statements: txn.statements,
        };
        match self.write_under(id, op).await? {
            WriteOutput::Txn(outputs) => Ok(outputs),
            other => Err(other_output(id, &other, "txn")),
        }
    }

    pub(super) async fn batch_under(
        &self,
        id: WriteId,
        sql: impl Into<String>,
    ) -> Result<usize, Error> {
        match self
            .write_under(id, WriteOp::Batch { sql: sql.into() })
            .await?
        {
            WriteOutput::Batch { statements } => Ok(statements),
            other => Err(other_output(id, &other, "batch")),
        }
    }
}

/// A write answered with another kind of output than the method's (`now`). Under a write key
/// that is the result of the key's first write, of another kind ([`Error::WriteKeyReused`]);
/// under a fresh id it cannot happen.
fn other_output(id: WriteId, output: &WriteOutput, now: &'static str) -> Error {
    match id {
        WriteId::Fresh => Error::Raft(format!("unexpected write output {output:?}")),
        WriteId::Key(key) => Error::WriteKeyReused {
            key,
            first: match output {
                WriteOutput::Executed { .. } => "execute",
                WriteOutput::Rows(_) => "execute_returning",
                WriteOutput::Txn(_) => "txn",
                WriteOutput::Batch { .. } => "batch",
                WriteOutput::Migrated { .. } => "migrate",
                WriteOutput::Restored { .. } => "restore",
                WriteOutput::TickClaimed { .. } => "claim_tick",
                WriteOutput::Cache(_) => "cache",
            },
            now,
        },
    }
}
