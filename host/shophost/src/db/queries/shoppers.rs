//! What a shopper leaves: storefront sessions, members and the cards modules keep for them.

use super::{insert, Dialect, Pools};
use crate::db::columns::{json, NewRow, MEMBERS, MEMBER_CARDS, SESSIONS};
use crate::db::rows::{self, Columns};
use crate::db::{DbError, SessionChange};
use crate::domain::{now_millis, CustomerDetails, Member, MemberCard};

impl<DB: Dialect> Pools<DB> {
    pub async fn session(&self, id: &str, fresh_after: i64) -> Result<Option<String>, DbError> {
        let sql = format!(
            "SELECT {} FROM storefront_sessions WHERE id = $1 AND touched_at >= $2",
            SESSIONS.select()
        );
        let row = self
            .read_row(&sql, vec![id.into(), fresh_after.into()])
            .await?;
        row.map(|row| row.text("data")).transpose()
    }

    pub async fn modify_session(
        &self,
        id: &str,
        fresh_after: i64,
        at: i64,
        change: SessionChange<'_>,
    ) -> Result<(), DbError> {
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "SELECT {} FROM storefront_sessions WHERE id = $1 {}",
            SESSIONS.select(),
            DB::FOR_UPDATE
        );
        let current = DB::fetch(&mut tx, &sql, vec![id.into()]).await?;
        let current = match current.first() {
            Some(row) if row.int("touched_at")? >= fresh_after => Some(row.text("data")?),
            _ => None,
        };
        let row = NewRow::new(&SESSIONS)
            .set("id", id)
            .set("data", change(current))
            .set("touched_at", at);
        let sql = insert(
            &row,
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data, touched_at = excluded.touched_at",
        );
        DB::execute(&mut tx, &sql, row.into_values()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn delete_session(&self, id: &str) -> Result<(), DbError> {
        let sql = "DELETE FROM storefront_sessions WHERE id = $1";
        self.write(sql, vec![id.into()]).await.map(drop)
    }

    pub async fn sweep_sessions(&self, before: i64) -> Result<u64, DbError> {
        let sql = "DELETE FROM storefront_sessions WHERE touched_at < $1";
        self.write(sql, vec![before.into()]).await
    }

    pub async fn create_member(
        &self,
        email: &str,
        password_hash: &str,
        details: &CustomerDetails,
    ) -> Result<Member, DbError> {
        let row = NewRow::new(&MEMBERS)
            .set("email", email)
            .set("password_hash", password_hash)
            .set("details_json", json(details))
            .set("created_at", now_millis());
        let sql = insert(&row, &format!("RETURNING {}", MEMBERS.select()));
        let rows = self.write_rows(&sql, row.into_values()).await?;
        rows::member(rows.first().ok_or(DbError::NotFound)?)
    }

    pub async fn member_by_email(&self, email: &str) -> Result<Option<(Member, String)>, DbError> {
        let sql = format!("SELECT {} FROM members WHERE email = $1", MEMBERS.select());
        let row = self.read_row(&sql, vec![email.into()]).await?;
        row.map(|row| Ok((rows::member(&row)?, row.text("password_hash")?)))
            .transpose()
    }

    pub async fn member(&self, id: i64) -> Result<Option<Member>, DbError> {
        let sql = format!("SELECT {} FROM members WHERE id = $1", MEMBERS.select());
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::member).transpose()
    }

    pub async fn member_card(
        &self,
        member_id: i64,
        module_id: &str,
    ) -> Result<Option<MemberCard>, DbError> {
        let sql = format!(
            "SELECT {} FROM member_cards WHERE member_id = $1 AND module_id = $2",
            MEMBER_CARDS.select()
        );
        let row = self
            .read_row(&sql, vec![member_id.into(), module_id.into()])
            .await?;
        row.as_ref().map(rows::member_card).transpose()
    }

    pub async fn delete_member_card(
        &self,
        member_id: i64,
        module_id: &str,
    ) -> Result<bool, DbError> {
        let sql = "DELETE FROM member_cards WHERE member_id = $1 AND module_id = $2";
        let deleted = self
            .write(sql, vec![member_id.into(), module_id.into()])
            .await?;
        Ok(deleted > 0)
    }

    pub async fn set_member_password(&self, member_id: i64, hash: &str) -> Result<(), DbError> {
        let sql = "UPDATE members SET password_hash = $1 WHERE id = $2";
        match self.write(sql, vec![hash.into(), member_id.into()]).await? {
            0 => Err(DbError::NotFound),
            _ => Ok(()),
        }
    }
}
