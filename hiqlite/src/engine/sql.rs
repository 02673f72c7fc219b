//! SQL of unknown kind (`hiqlite sql`, `Client::sql`): SQLite decides whether it reads or writes.

use super::error::Error;
use super::protocol::SqlOutput;
use super::Engine;
use crate::store::sqlite::classify::{classify, is_refusal, is_syntax_error, SqlKind};
use crate::types::command::{RequestId, WriteOp, WriteOutput};

impl Engine {
    /// Runs SQL whose kind is not known in advance: a single read-only statement is a read
    /// (local, or linearizable with `consistent`); anything else is replicated, a string of
    /// several statements as a batch.
    pub(crate) async fn run_sql(
        &self,
        id: RequestId,
        sql: String,
        consistent: bool,
    ) -> Result<SqlOutput, Error> {
        let kind = match self.classify(&sql).await {
            // This node's schema may be behind the leader's (a table created through another
            // node a moment ago): catch up, as a consistent read would, and ask again. A text
            // that does not parse, or a cluster without a leader, keeps the first answer.
            Err(ClassifyError::Schema(first)) => match self.linearize().await {
                Ok(()) => self
                    .classify(&sql)
                    .await
                    .map_err(ClassifyError::into_error)?,
                Err(_) => return Err(first),
            },
            other => other.map_err(ClassifyError::into_error)?,
        };
        let op = match kind {
            SqlKind::Read => {
                if consistent {
                    self.linearize().await?;
                }
                return Ok(SqlOutput::Rows(self.query_rows(sql, Vec::new()).await?));
            }
            SqlKind::WriteReturning => WriteOp::ExecuteReturning {
                sql,
                params: Vec::new(),
            },
            SqlKind::Write => WriteOp::Execute {
                sql,
                params: Vec::new(),
            },
            SqlKind::Batch => WriteOp::Batch { sql },
        };
        let output = self.write(id, op).await?.result.map_err(Error::Sql)?;
        Ok(match output {
            WriteOutput::Rows(rows) => SqlOutput::Rows(rows),
            WriteOutput::Executed {
                rows_affected,
                last_insert_rowid,
            } => SqlOutput::Executed {
                rows_affected,
                last_insert_rowid,
            },
            WriteOutput::Batch { statements } => SqlOutput::Batch { statements },
            WriteOutput::Txn(_)
            | WriteOutput::Migrated { .. }
            | WriteOutput::Restored { .. }
            | WriteOutput::TickClaimed { .. }
            | WriteOutput::Cache(_) => {
                return Err(Error::Raft(format!("unexpected write output {output:?}")))
            }
        })
    }

    /// Classifies `sql` on one of this node's read connections (see [`classify`]).
    async fn classify(&self, sql: &str) -> Result<SqlKind, ClassifyError> {
        let probe = sql.to_string();
        let outcome = self
            .reads
            .with_conn(move |conn| match classify(conn, &probe) {
                // Refused by the guard (explained by the pool), or unparsable: final.
                Err(e) if is_refusal(&e) || is_syntax_error(&e) => Err(Error::from(e)),
                other => Ok(other),
            })
            .await
            .map_err(ClassifyError::Other)?;
        outcome.map_err(|e| ClassifyError::Schema(Error::from(e)))
    }
}

/// Why a statement could not be classified.
enum ClassifyError {
    /// It does not prepare against this node's schema, which may be behind the leader's.
    Schema(Error),
    /// Anything else (a syntax error, a closed pool).
    Other(Error),
}

impl ClassifyError {
    fn into_error(self) -> Error {
        match self {
            ClassifyError::Schema(e) | ClassifyError::Other(e) => e,
        }
    }
}
