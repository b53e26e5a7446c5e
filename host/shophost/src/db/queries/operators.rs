//! Console operators and their sign-in sessions.

use super::{insert, Dialect, Pools};
use crate::db::columns::{NewRow, OPERATORS, OPERATOR_SESSIONS};
use crate::db::rows::{self, Columns};
use crate::db::DbError;
use crate::domain::{Operator, OperatorSession};

impl<DB: Dialect> Pools<DB> {
    pub async fn create_operator(
        &self,
        login: &str,
        password_hash: &str,
        at: i64,
    ) -> Result<Operator, DbError> {
        let row = NewRow::new(&OPERATORS)
            .set("login", login)
            .set("password_hash", password_hash)
            .set("disabled", false)
            .set("created_at", at)
            .set("last_login_at", None::<i64>);
        let sql = insert(&row, &format!("RETURNING {}", OPERATORS.select()));
        let rows = self.write_rows(&sql, row.into_values()).await?;
        rows::operator(rows.first().ok_or(DbError::NotFound)?)
    }

    pub async fn operator_by_login(
        &self,
        login: &str,
    ) -> Result<Option<(Operator, String)>, DbError> {
        let sql = format!(
            "SELECT {} FROM operators WHERE login = $1",
            OPERATORS.select()
        );
        let row = self.read_row(&sql, vec![login.into()]).await?;
        row.map(|row| Ok((rows::operator(&row)?, row.text("password_hash")?)))
            .transpose()
    }

    pub async fn operators(&self) -> Result<Vec<Operator>, DbError> {
        let sql = format!(
            "SELECT {} FROM operators ORDER BY login",
            OPERATORS.select()
        );
        let rows = self.read_rows(&sql, Vec::new()).await?;
        rows.iter().map(rows::operator).collect()
    }

    /// Disables or enables an operator; disabling also ends their sessions, in one transaction.
    pub async fn set_operator_disabled(
        &self,
        login: &str,
        disabled: bool,
    ) -> Result<Operator, DbError> {
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "UPDATE operators SET disabled = $1 WHERE login = $2 RETURNING {}",
            OPERATORS.select()
        );
        let found = DB::fetch(&mut tx, &sql, vec![disabled.into(), login.into()]).await?;
        let operator = rows::operator(found.first().ok_or(DbError::NotFound)?)?;
        if disabled {
            let sql = "DELETE FROM operator_sessions WHERE operator_id = $1";
            DB::execute(&mut tx, sql, vec![operator.id.into()]).await?;
        }
        tx.commit().await?;
        Ok(operator)
    }

    pub async fn set_operator_password(&self, id: i64, password_hash: &str) -> Result<(), DbError> {
        let sql = "UPDATE operators SET password_hash = $1 WHERE id = $2";
        match self
            .write(sql, vec![password_hash.into(), id.into()])
            .await?
        {
            0 => Err(DbError::NotFound),
            _ => Ok(()),
        }
    }

    /// Stores a new session and notes the sign-in on the operator, in one transaction.
    pub async fn create_operator_session(&self, session: &OperatorSession) -> Result<(), DbError> {
        let mut tx = self.write.begin().await?;
        let row = NewRow::new(&OPERATOR_SESSIONS)
            .set("token_hash", session.token_hash.as_str())
            .set("operator_id", session.operator_id)
            .set("csrf_token", session.csrf_token.as_str())
            .set("created_at", session.created_at)
            .set("touched_at", session.touched_at);
        DB::execute(&mut tx, &insert(&row, ""), row.into_values()).await?;
        let sql = "UPDATE operators SET last_login_at = $1 WHERE id = $2";
        DB::execute(
            &mut tx,
            sql,
            vec![session.created_at.into(), session.operator_id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn operator_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(OperatorSession, Operator)>, DbError> {
        let sql = "SELECT s.token_hash, s.operator_id, s.csrf_token, s.created_at, s.touched_at, \
             o.id, o.login, o.disabled, o.created_at AS operator_created_at, o.last_login_at \
             FROM operator_sessions s JOIN operators o ON o.id = s.operator_id \
             WHERE s.token_hash = $1";
        let Some(row) = self.read_row(sql, vec![token_hash.into()]).await? else {
            return Ok(None);
        };
        let session = rows::operator_session(&row)?;
        let operator = Operator {
            id: row.int("id")?,
            login: row.text("login")?,
            disabled: row.flag("disabled")?,
            created_at: row.int("operator_created_at")?,
            last_login_at: row.int_or_null("last_login_at")?,
        };
        Ok(Some((session, operator)))
    }

    pub async fn touch_operator_session(&self, token_hash: &str, at: i64) -> Result<(), DbError> {
        let sql = "UPDATE operator_sessions SET touched_at = $1 WHERE token_hash = $2";
        self.write(sql, vec![at.into(), token_hash.into()])
            .await
            .map(drop)
    }

    pub async fn delete_operator_session(&self, token_hash: &str) -> Result<(), DbError> {
        let sql = "DELETE FROM operator_sessions WHERE token_hash = $1";
        self.write(sql, vec![token_hash.into()]).await.map(drop)
    }

    /// Forgets sessions idle since `idle_before` or signed in before `created_before`.
    pub async fn sweep_operator_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, DbError> {
        let sql = "DELETE FROM operator_sessions WHERE touched_at < $1 OR created_at < $2";
        self.write(sql, vec![idle_before.into(), created_before.into()])
            .await
    }
}
