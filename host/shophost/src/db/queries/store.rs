//! The one [`Store`] impl: every store that implements [`HotPath`] gets it, each method handed to the
//! shared queries of its [`Pools`](super::Pools) or, for inbound requests, to the backend's hot path.

use async_trait::async_trait;
use shophost_module_api::SettingsValues;

use super::{Dialect, HotPath};
use crate::db::{
    ApplyContext, AttemptFilter, AttentionCounts, DayTotals, DbError, InboundRecord, Intent,
    JournalFilter, LatencyHistogram, NewAttempt, NewPaymentMethod, NewProduct, NewRefused,
    OpenWork, OrderFilter, OutcomeCount, Purge, Recorded, RefusedForOpenAttempts, RegisteredOrder,
    Responses, SessionChange, Store, StoreCounts, StoredSettings, WriterCounts,
};
use crate::domain::{
    Attempt, CustomerDetails, JournalEntry, Member, MemberCard, MoveDirection, Operator,
    OperatorSession, Order, OrderHistoryEntry, PaymentMethod, PaymentStatus, Product,
    ProductRecurrence, RecurringContract, RefusedRequest, SettlementError,
};

#[async_trait]
impl<S: HotPath> Store for S {
    fn backend(&self) -> &'static str {
        S::Db::BACKEND
    }

    fn writer_counts(&self) -> WriterCounts {
        HotPath::writer_counts(self)
    }

    fn writer_running(&self) -> bool {
        HotPath::writer_running(self)
    }

    async fn close(&self) {
        HotPath::close(self).await
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.pools().write("SELECT 1", Vec::new()).await.map(drop)
    }

    async fn module_settings(&self, module_id: &str) -> Result<Option<StoredSettings>, DbError> {
        self.pools().module_settings(module_id).await
    }

    async fn save_module_settings(
        &self,
        module_id: &str,
        values: &SettingsValues,
        source: &str,
        valid: bool,
    ) -> Result<(), DbError> {
        let pools = self.pools();
        pools
            .save_module_settings(module_id, values, source, valid)
            .await
    }

    async fn module_selection(&self) -> Result<Option<Vec<String>>, DbError> {
        self.pools().module_selection().await
    }

    async fn save_module_selection(&self, in_use: &[String]) -> Result<(), DbError> {
        self.pools().save_module_selection(in_use).await
    }

    async fn open_work(
        &self,
        attempts_created_after: i64,
        deadline_cutoff: &str,
    ) -> Result<Vec<OpenWork>, DbError> {
        self.pools()
            .open_work(attempts_created_after, deadline_cutoff)
            .await
    }

    async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, DbError> {
        self.pools().payment_methods().await
    }

    async fn payment_method(&self, id: i64) -> Result<Option<PaymentMethod>, DbError> {
        self.pools().payment_method(id).await
    }

    async fn create_payment_method(
        &self,
        method: &NewPaymentMethod,
    ) -> Result<PaymentMethod, DbError> {
        self.pools().create_payment_method(method).await
    }

    async fn update_payment_method(
        &self,
        id: i64,
        method: &NewPaymentMethod,
    ) -> Result<PaymentMethod, DbError> {
        self.pools().update_payment_method(id, method).await
    }

    async fn delete_payment_method(&self, id: i64) -> Result<(), DbError> {
        self.pools().delete_payment_method(id).await
    }

    async fn move_payment_method(&self, id: i64, direction: MoveDirection) -> Result<(), DbError> {
        self.pools().move_payment_method(id, direction).await
    }

    async fn stop_methods_of_types(&self, types: &[String]) -> Result<Vec<String>, DbError> {
        self.pools().stop_methods_of_types(types).await
    }

    async fn stop_methods_not_provided(&self, provided: &[String]) -> Result<Vec<String>, DbError> {
        self.pools().stop_methods_not_provided(provided).await
    }

    async fn products(&self) -> Result<Vec<Product>, DbError> {
        self.pools().products().await
    }

    async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
        self.pools().product(id).await
    }

    async fn ensure_product(
        &self,
        sku: &str,
        name: &str,
        price: i64,
        description: &str,
    ) -> Result<(), DbError> {
        let pools = self.pools();
        pools.ensure_product(sku, name, price, description).await
    }

    async fn product_by_sku(&self, sku: &str) -> Result<Option<Product>, DbError> {
        self.pools().product_by_sku(sku).await
    }

    async fn create_product(&self, product: &NewProduct) -> Result<Product, DbError> {
        self.pools().create_product(product).await
    }

    async fn update_product(&self, sku: &str, product: &NewProduct) -> Result<Product, DbError> {
        self.pools().update_product(sku, product).await
    }

    async fn delete_product(&self, sku: &str) -> Result<(), DbError> {
        self.pools().delete_product(sku).await
    }

    async fn set_product_recurrence(
        &self,
        sku: &str,
        recurrence: Option<ProductRecurrence>,
    ) -> Result<(), DbError> {
        self.pools().set_product_recurrence(sku, recurrence).await
    }

    async fn contracts(
        &self,
        member_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RecurringContract>, DbError> {
        self.pools().contracts(member_id, limit).await
    }

    async fn stop_contract(&self, id: i64) -> Result<RecurringContract, DbError> {
        self.pools().stop_contract(id).await
    }

    async fn session(&self, id: &str, fresh_after: i64) -> Result<Option<String>, DbError> {
        self.pools().session(id, fresh_after).await
    }

    async fn modify_session(
        &self,
        id: &str,
        fresh_after: i64,
        at: i64,
        change: SessionChange<'_>,
    ) -> Result<(), DbError> {
        self.pools()
            .modify_session(id, fresh_after, at, change)
            .await
    }

    async fn delete_session(&self, id: &str) -> Result<(), DbError> {
        self.pools().delete_session(id).await
    }

    async fn sweep_sessions(&self, before: i64) -> Result<u64, DbError> {
        self.pools().sweep_sessions(before).await
    }

    async fn create_operator(
        &self,
        login: &str,
        password_hash: &str,
        at: i64,
    ) -> Result<Operator, DbError> {
        self.pools().create_operator(login, password_hash, at).await
    }

    async fn operator_by_login(&self, login: &str) -> Result<Option<(Operator, String)>, DbError> {
        self.pools().operator_by_login(login).await
    }

    async fn operators(&self) -> Result<Vec<Operator>, DbError> {
        self.pools().operators().await
    }

    async fn set_operator_disabled(
        &self,
        login: &str,
        disabled: bool,
    ) -> Result<Operator, DbError> {
        self.pools().set_operator_disabled(login, disabled).await
    }

    async fn set_operator_password(&self, id: i64, password_hash: &str) -> Result<(), DbError> {
        self.pools().set_operator_password(id, password_hash).await
    }

    async fn create_operator_session(&self, session: &OperatorSession) -> Result<(), DbError> {
        self.pools().create_operator_session(session).await
    }

    async fn operator_session(
        &self,
        token_hash: &str,
    ) -> Result<Option<(OperatorSession, Operator)>, DbError> {
        self.pools().operator_session(token_hash).await
    }

    async fn touch_operator_session(&self, token_hash: &str, at: i64) -> Result<(), DbError> {
        self.pools().touch_operator_session(token_hash, at).await
    }

    async fn delete_operator_session(&self, token_hash: &str) -> Result<(), DbError> {
        self.pools().delete_operator_session(token_hash).await
    }

    async fn sweep_operator_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64, DbError> {
        self.pools()
            .sweep_operator_sessions(idle_before, created_before)
            .await
    }

    async fn create_member(
        &self,
        email: &str,
        password_hash: &str,
        details: &CustomerDetails,
    ) -> Result<Member, DbError> {
        let pools = self.pools();
        pools.create_member(email, password_hash, details).await
    }

    async fn member_by_email(&self, email: &str) -> Result<Option<(Member, String)>, DbError> {
        self.pools().member_by_email(email).await
    }

    async fn member(&self, id: i64) -> Result<Option<Member>, DbError> {
        self.pools().member(id).await
    }

    async fn member_card(
        &self,
        member_id: i64,
        module_id: &str,
    ) -> Result<Option<MemberCard>, DbError> {
        self.pools().member_card(member_id, module_id).await
    }

    async fn delete_member_card(&self, member_id: i64, module_id: &str) -> Result<bool, DbError> {
        self.pools().delete_member_card(member_id, module_id).await
    }

    async fn set_member_password(&self, member_id: i64, hash: &str) -> Result<(), DbError> {
        self.pools().set_member_password(member_id, hash).await
    }

    async fn members(
        &self,
        search: &crate::db::MemberSearch,
        limit: i64,
    ) -> Result<Vec<crate::db::MemberListing>, DbError> {
        self.pools().members(search, limit).await
    }

    async fn member_cards(&self, member_id: i64) -> Result<Vec<MemberCard>, DbError> {
        self.pools().member_cards(member_id).await
    }

    async fn find_contracts(
        &self,
        filter: &crate::db::ContractFilter,
        limit: i64,
    ) -> Result<Vec<RecurringContract>, DbError> {
        self.pools().find_contracts(filter, limit).await
    }

    async fn contract(&self, id: i64) -> Result<Option<RecurringContract>, DbError> {
        self.pools().contract(id).await
    }

    async fn create_attempt(&self, attempt: &NewAttempt) -> Result<Attempt, DbError> {
        self.pools().create_attempt(attempt).await
    }

    async fn attempt_by_link_key(&self, link_key: &str) -> Result<Option<Attempt>, DbError> {
        self.pools().attempt_by_link_key(link_key).await
    }

    async fn attempts(&self, open_only: bool, limit: i64) -> Result<Vec<Attempt>, DbError> {
        self.pools().attempts(open_only, limit).await
    }

    async fn mark_returned(&self, link_key: &str, at: i64) -> Result<(), DbError> {
        self.pools().mark_returned(link_key, at).await
    }

    async fn flag_unconfirmed_returns(
        &self,
        module_id: &str,
        returned_before: i64,
        reason: &str,
    ) -> Result<Vec<String>, DbError> {
        self.pools()
            .flag_unconfirmed_returns(module_id, returned_before, reason)
            .await
    }

    async fn search_attempts(
        &self,
        filter: &AttemptFilter,
        limit: i64,
    ) -> Result<Vec<Attempt>, DbError> {
        self.pools().search_attempts(filter, limit).await
    }

    async fn register_attempt_order(
        &self,
        link_key: &str,
        order: &RegisteredOrder,
    ) -> Result<Order, DbError> {
        self.pools().register_attempt_order(link_key, order).await
    }

    async fn recover_attempt(
        &self,
        link_key: &str,
        status: PaymentStatus,
        settlement_label: &str,
        reason: &str,
    ) -> Result<Order, DbError> {
        let pools = self.pools();
        pools
            .recover_attempt(link_key, status, settlement_label, reason)
            .await
    }

    async fn orders(&self, filter: &OrderFilter, limit: i64) -> Result<Vec<Order>, DbError> {
        self.pools().orders(filter, limit).await
    }

    async fn order_history(&self, order_id: i64) -> Result<Vec<OrderHistoryEntry>, DbError> {
        self.pools().order_history(order_id).await
    }

    async fn order_page(
        &self,
        filter: &super::order_list::OrderListFilter,
        cursor: Option<super::order_list::PageCursor>,
        limit: i64,
    ) -> Result<Vec<Order>, DbError> {
        self.pools().order_page(filter, cursor, limit).await
    }

    async fn payment_events(
        &self,
        link_key: &str,
    ) -> Result<Vec<super::order_list::PaymentEvent>, DbError> {
        self.pools().payment_events(link_key).await
    }

    async fn clear_order_attention(
        &self,
        order_number: &str,
        reason: &str,
    ) -> Result<Order, DbError> {
        self.pools()
            .clear_order_attention(order_number, reason)
            .await
    }

    async fn set_order_status(
        &self,
        order_number: &str,
        from: PaymentStatus,
        to: PaymentStatus,
        reason: &str,
    ) -> Result<Order, DbError> {
        self.pools()
            .set_order_status(order_number, from, to, reason)
            .await
    }

    async fn payment_event_count(&self, link_key: &str) -> Result<i64, DbError> {
        self.pools().payment_event_count(link_key).await
    }

    async fn last_payment_event(&self, link_key: &str) -> Result<Option<String>, DbError> {
        self.pools().last_payment_event(link_key).await
    }

    async fn expire_unpaid(&self, cutoff: &str, reason: &str) -> Result<Vec<String>, DbError> {
        self.pools().expire_unpaid(cutoff, reason).await
    }

    async fn daily_totals(&self, since: i64) -> Result<Vec<DayTotals>, DbError> {
        self.pools().daily_totals(since).await
    }

    async fn notification_outcomes(&self, since: i64) -> Result<Vec<OutcomeCount>, DbError> {
        self.pools().notification_outcomes(since).await
    }

    async fn answer_latencies(&self, since: i64) -> Result<LatencyHistogram, DbError> {
        self.pools().answer_latencies(since).await
    }

    async fn counts(&self) -> Result<StoreCounts, DbError> {
        self.pools().counts().await
    }

    async fn attention_counts(&self) -> Result<AttentionCounts, DbError> {
        self.pools().attention_counts().await
    }

    async fn record_inbound(
        &self,
        record: InboundRecord,
        intent: Intent,
        context: ApplyContext,
        responses: Responses,
    ) -> Result<Recorded, DbError> {
        self.record(record, intent, context, responses).await
    }

    async fn journal(
        &self,
        link_key: Option<&str>,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, DbError> {
        self.pools().journal(link_key, limit).await
    }

    async fn journal_entry(&self, id: i64) -> Result<Option<JournalEntry>, DbError> {
        self.pools().journal_entry(id).await
    }

    async fn settlement_errors(&self, limit: i64) -> Result<Vec<SettlementError>, DbError> {
        self.pools().settlement_errors(limit).await
    }

    async fn delete_settlement_error(&self, id: i64) -> Result<bool, DbError> {
        self.pools().delete_settlement_error(id).await
    }

    async fn settlement_error(&self, id: i64) -> Result<Option<SettlementError>, DbError> {
        self.pools().settlement_error(id).await
    }

    async fn delete_settlement_errors(&self) -> Result<u64, DbError> {
        self.pools().delete_settlement_errors().await
    }

    async fn journal_page(
        &self,
        filter: &JournalFilter,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, DbError> {
        self.pools().journal_page(filter, limit).await
    }

    async fn keep_refused(&self, refused: &NewRefused) -> Result<i64, DbError> {
        self.pools().keep_refused(refused).await
    }

    async fn refused_requests(
        &self,
        pending_only: bool,
        limit: i64,
    ) -> Result<Vec<RefusedRequest>, DbError> {
        self.pools().refused_requests(pending_only, limit).await
    }

    async fn refused_request(&self, id: i64) -> Result<Option<RefusedRequest>, DbError> {
        self.pools().refused_request(id).await
    }

    async fn claim_refused_replay(&self, id: i64, at: i64) -> Result<bool, DbError> {
        self.pools().claim_refused_replay(id, at).await
    }

    async fn settle_refused_replay(&self, id: i64, journal_id: Option<i64>) -> Result<(), DbError> {
        self.pools().settle_refused_replay(id, journal_id).await
    }

    async fn refused_bytes(&self) -> Result<i64, DbError> {
        self.pools().refused_bytes().await
    }

    async fn refused_for_open_attempts(&self) -> Result<RefusedForOpenAttempts, DbError> {
        self.pools().refused_for_open_attempts().await
    }

    async fn claim_mail(
        &self,
        now: i64,
        lease_ms: i64,
        token: &str,
        limit: i64,
    ) -> Result<Vec<crate::mail::OutboxMail>, DbError> {
        self.pools().claim_mail(now, lease_ms, token, limit).await
    }

    async fn store_rendered_mails(
        &self,
        rendered: Vec<(crate::mail::OutboxMail, crate::mail::render::Rendered)>,
        at: i64,
    ) -> Result<Vec<crate::mail::OutboxMail>, DbError> {
        self.pools().store_rendered_mails(rendered, at).await
    }

    async fn finish_rendered_mails(
        &self,
        token: &str,
        finished: &[crate::mail::Finished],
        rendered: &std::collections::HashMap<i64, crate::mail::render::Rendered>,
        at: i64,
    ) -> Result<Vec<bool>, DbError> {
        self.pools()
            .finish_mails(token, finished, rendered, at)
            .await
    }

    async fn mails(
        &self,
        filter: &crate::mail::MailFilter,
        limit: i64,
    ) -> Result<Vec<crate::mail::OutboxMail>, DbError> {
        self.pools().mails(filter, limit).await
    }

    async fn mail(&self, id: i64) -> Result<Option<crate::mail::OutboxMail>, DbError> {
        self.pools().mail(id).await
    }

    async fn mail_deliveries(&self, id: i64) -> Result<Vec<crate::mail::MailDelivery>, DbError> {
        self.pools().mail_deliveries(id).await
    }

    async fn resend_mail(&self, id: i64, at: i64) -> Result<(), DbError> {
        self.pools().resend_mail(id, at).await
    }

    async fn release_held_mail(&self, order_id: i64, at: i64) -> Result<i64, DbError> {
        self.pools().release_held_mail(order_id, at).await
    }

    async fn queue_test_mail(&self, to: &str, at: i64) -> Result<i64, DbError> {
        self.pools().queue_test_mail(to, at).await
    }

    async fn failed_mails(&self) -> Result<crate::mail::FailedMails, DbError> {
        self.pools().failed_mails().await
    }

    async fn order_by_id(&self, id: i64) -> Result<Option<Order>, DbError> {
        self.pools().order_by_id(id).await
    }

    async fn orders_for_mail(&self, ids: &[i64]) -> Result<Vec<(Order, Option<Attempt>)>, DbError> {
        self.pools().orders_for_mail(ids).await
    }

    async fn mail_settings(&self) -> Result<Option<String>, DbError> {
        self.pools().mail_settings().await
    }

    async fn save_mail_settings(&self, json: &str, at: i64) -> Result<(), DbError> {
        self.pools().save_mail_settings(json, at).await
    }

    async fn purge(&self, what: Purge, before: i64, limit: i64, at: i64) -> Result<u64, DbError> {
        self.pools().purge(what, before, limit, at).await
    }
}
