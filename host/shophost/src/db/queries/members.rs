//! What the operator console looks up of members and their recurring contracts: members found by
//! e-mail or name, a member's cards at every module, contracts by state, member and product, one
//! contract. Lists are keyset-paged (newest first, `id` below the last one shown), so a page costs
//! the same however deep it is.

use super::{Dialect, Pools};
use crate::db::columns::{CONTRACTS, MEMBERS, MEMBER_CARDS};
use crate::db::rows::{self, Columns};
use crate::db::DbError;
use crate::domain::{Member, MemberCard, RecurringContract};

/// Which members to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSearch {
    /// Part of the e-mail address or of the name, 漢字 or カナ (spaces ignored), Latin letters in any
    /// case; empty for every member.
    pub text: String,
    /// Only members whose id is below this one (the next page).
    pub before: Option<i64>,
}

/// A member as the console lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberListing {
    /// The member.
    pub member: Member,
    /// When they registered.
    pub created_at: i64,
    /// How many modules keep a card for them.
    pub cards: i64,
}

/// Which recurring contracts to list (all optional, combined with AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractFilter {
    /// `continuation` (継続中) or `stopped` (停止).
    pub status: Option<String>,
    /// One member's.
    pub member_id: Option<i64>,
    /// Part of the product's name (Latin letters in any case); empty for any.
    pub product: String,
    /// Only contracts whose id is below this one (the next page).
    pub before: Option<i64>,
}

/// `%text%` for `LIKE … ESCAPE '\'`, the text's own wildcards taken literally.
fn contains(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

impl<DB: Dialect> Pools<DB> {
    pub async fn members(
        &self,
        search: &MemberSearch,
        limit: i64,
    ) -> Result<Vec<MemberListing>, DbError> {
        let text = search.text.trim();
        let name: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        // Both sides through the database's own lower(): SQLite's LIKE ignores the case of ASCII
        // letters and PostgreSQL's does not, so neither is left to its LIKE (an e-mail or a name in
        // Latin letters is found in any case on both).
        let sql = format!(
            "SELECT {}, (SELECT COUNT(*) FROM member_cards c WHERE c.member_id = members.id) \
             AS cards FROM members WHERE ($1 = '' OR lower(email) LIKE lower($2) ESCAPE '\\' \
             OR lower({}) LIKE lower($3) ESCAPE '\\') AND ($4 IS NULL OR id < $4) \
             ORDER BY id DESC LIMIT $5",
            MEMBERS.select(),
            DB::MEMBER_NAMES,
        );
        let args = vec![
            text.into(),
            contains(text).into(),
            contains(&name).into(),
            search.before.into(),
            limit.into(),
        ];
        let rows = self.read_rows(&sql, args).await?;
        rows.iter()
            .map(|row| {
                Ok(MemberListing {
                    member: rows::member(row)?,
                    created_at: row.int("created_at")?,
                    cards: row.int("cards")?,
                })
            })
            .collect()
    }

    pub async fn member_cards(&self, member_id: i64) -> Result<Vec<MemberCard>, DbError> {
        let sql = format!(
            "SELECT {} FROM member_cards WHERE member_id = $1 ORDER BY module_id",
            MEMBER_CARDS.select()
        );
        let rows = self.read_rows(&sql, vec![member_id.into()]).await?;
        rows.iter().map(rows::member_card).collect()
    }

    pub async fn find_contracts(
        &self,
        filter: &ContractFilter,
        limit: i64,
    ) -> Result<Vec<RecurringContract>, DbError> {
        let product = filter.product.trim();
        // lower() on both sides, as for the member search: the case is not left to LIKE.
        let sql = format!(
            "SELECT {} FROM recurring_contracts WHERE ($1 IS NULL OR status = $1) \
             AND ($2 IS NULL OR member_id = $2) \
             AND ($3 = '' OR lower(product_name) LIKE lower($4) ESCAPE '\\') \
             AND ($5 IS NULL OR id < $5) ORDER BY id DESC LIMIT $6",
            CONTRACTS.select()
        );
        let args = vec![
            filter.status.as_deref().into(),
            filter.member_id.into(),
            product.into(),
            contains(product).into(),
            filter.before.into(),
            limit.into(),
        ];
        let rows = self.read_rows(&sql, args).await?;
        rows.iter().map(rows::contract).collect()
    }

    pub async fn contract(&self, id: i64) -> Result<Option<RecurringContract>, DbError> {
        let sql = format!(
            "SELECT {} FROM recurring_contracts WHERE id = $1",
            CONTRACTS.select()
        );
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::contract).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::contains;

    #[test]
    fn a_search_takes_wildcards_literally() {
        assert_eq!(contains("a%b_c\\"), "%a\\%b\\_c\\\\%");
        assert_eq!(contains("山田"), "%山田%");
    }
}
