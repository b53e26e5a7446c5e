//! What the operator sets up: module settings, payment methods, products and recurring contracts.

use shophost_module_api::SettingsValues;

use super::{insert, Dialect, Pools};
use crate::db::columns::{
    json, NewRow, Value, CONTRACTS, MODULE_SETTINGS, PAYMENT_METHODS, PRODUCTS,
};
use crate::db::rows::{self, Columns};
use crate::db::{DbError, NewPaymentMethod, NewProduct, StoredSettings};
use crate::domain::{
    now_millis, MoveDirection, PaymentMethod, Product, ProductRecurrence, RecurringContract,
    TaxClass,
};

impl<DB: Dialect> Pools<DB> {
    pub async fn module_settings(
        &self,
        module_id: &str,
    ) -> Result<Option<StoredSettings>, DbError> {
        let sql = format!(
            "SELECT {} FROM module_settings WHERE module_id = $1",
            MODULE_SETTINGS.select()
        );
        let row = self.read_row(&sql, vec![module_id.into()]).await?;
        row.as_ref().map(rows::settings).transpose()
    }

    pub async fn save_module_settings(
        &self,
        module_id: &str,
        values: &SettingsValues,
        source: &str,
        valid: bool,
    ) -> Result<(), DbError> {
        let row = NewRow::new(&MODULE_SETTINGS)
            .set("module_id", module_id)
            .set("values_json", json(values))
            .set("source", source)
            .set("valid", valid)
            .set("updated_at", now_millis());
        let sql = insert(
            &row,
            "ON CONFLICT (module_id) DO UPDATE SET values_json = excluded.values_json, \
             source = excluded.source, valid = excluded.valid, updated_at = excluded.updated_at",
        );
        self.write(&sql, row.into_values()).await.map(drop)
    }

    pub async fn payment_methods(&self) -> Result<Vec<PaymentMethod>, DbError> {
        let sql = format!(
            "SELECT {} FROM payment_methods ORDER BY position, id",
            PAYMENT_METHODS.select()
        );
        let rows = self.read_rows(&sql, Vec::new()).await?;
        rows.iter().map(rows::payment_method).collect()
    }

    pub async fn payment_method(&self, id: i64) -> Result<Option<PaymentMethod>, DbError> {
        let sql = format!(
            "SELECT {} FROM payment_methods WHERE id = $1",
            PAYMENT_METHODS.select()
        );
        let row = self.read_row(&sql, vec![id.into()]).await?;
        row.as_ref().map(rows::payment_method).transpose()
    }

    pub async fn create_payment_method(
        &self,
        method: &NewPaymentMethod,
    ) -> Result<PaymentMethod, DbError> {
        // A new method goes to the bottom. Two methods added at once on PostgreSQL may share a
        // position; the order stays total (ties go by id) and the first move renumbers them.
        let mut tx = self.write.begin().await?;
        let last = DB::fetch(
            &mut tx,
            "SELECT COALESCE(MAX(position), 0) AS last FROM payment_methods",
            Vec::new(),
        )
        .await?;
        let position = last.first().ok_or(DbError::NotFound)?.int("last")? + 1;
        let row = NewRow::new(&PAYMENT_METHODS)
            .set("name", &method.name)
            .set("explanation", &method.explanation)
            .set("settlement_type", &method.settlement_type)
            .set("module", "")
            .set("active", method.active)
            .set("position", position);
        let sql = insert(&row, &format!("RETURNING {}", PAYMENT_METHODS.select()));
        let rows = DB::fetch(&mut tx, &sql, row.into_values()).await?;
        let created = rows::payment_method(rows.first().ok_or(DbError::NotFound)?)?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn update_payment_method(
        &self,
        id: i64,
        method: &NewPaymentMethod,
    ) -> Result<PaymentMethod, DbError> {
        let sql = format!(
            "UPDATE payment_methods SET name = $1, explanation = $2, settlement_type = $3, \
             active = $4 WHERE id = $5 RETURNING {}",
            PAYMENT_METHODS.select()
        );
        let args = vec![
            method.name.as_str().into(),
            method.explanation.as_str().into(),
            method.settlement_type.as_str().into(),
            method.active.into(),
            id.into(),
        ];
        let rows = self.write_rows(&sql, args).await?;
        rows::payment_method(rows.first().ok_or(DbError::NotFound)?)
    }

    pub async fn delete_payment_method(&self, id: i64) -> Result<(), DbError> {
        let mut tx = self.write.begin().await?;
        let used = DB::fetch(
            &mut tx,
            "SELECT (SELECT COUNT(*) FROM orders WHERE payment_method_id = $1) + \
             (SELECT COUNT(*) FROM checkout_attempts WHERE payment_method_id = $1) AS used",
            vec![id.into()],
        )
        .await?;
        if used.first().ok_or(DbError::NotFound)?.int("used")? > 0 {
            return Err(DbError::Conflict("orders"));
        }
        let deleted = DB::execute(
            &mut tx,
            "DELETE FROM payment_methods WHERE id = $1",
            vec![id.into()],
        )
        .await?;
        if deleted == 0 {
            return Err(DbError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn move_payment_method(
        &self,
        id: i64,
        direction: MoveDirection,
    ) -> Result<(), DbError> {
        let mut tx = self.write.begin().await?;
        let sql = format!(
            "SELECT id, position FROM payment_methods ORDER BY position, id {}",
            DB::FOR_UPDATE
        );
        let rows = DB::fetch(&mut tx, &sql, Vec::new()).await?;
        let mut order = Vec::with_capacity(rows.len());
        for row in &rows {
            order.push((row.int("id")?, row.int("position")?));
        }
        let at = order
            .iter()
            .position(|(method, _)| *method == id)
            .ok_or(DbError::NotFound)?;
        let neighbour = match direction {
            MoveDirection::Up => at.checked_sub(1),
            MoveDirection::Down => Some(at + 1).filter(|next| *next < order.len()),
        };
        let Some(neighbour) = neighbour else {
            return Ok(());
        };
        order.swap(at, neighbour);
        // Positions are written as 1, 2, 3… in the new order, only where they change: this also
        // mends ties and gaps left by concurrent additions or deletions.
        for (index, (method, position)) in order.iter().enumerate() {
            let wanted = index as i64 + 1;
            if *position != wanted {
                DB::execute(
                    &mut tx,
                    "UPDATE payment_methods SET position = $1 WHERE id = $2",
                    vec![wanted.into(), (*method).into()],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn stop_methods_of_types(&self, types: &[String]) -> Result<Vec<String>, DbError> {
        let mut stopped = Vec::new();
        let mut tx = self.write.begin().await?;
        for settlement_type in types {
            let rows = DB::fetch(
                &mut tx,
                "UPDATE payment_methods SET active = FALSE WHERE settlement_type = $1 AND active \
                 RETURNING name",
                vec![settlement_type.into()],
            )
            .await?;
            for row in rows {
                stopped.push(row.text("name")?);
            }
        }
        tx.commit().await?;
        stopped.sort();
        Ok(stopped)
    }

    pub async fn stop_methods_not_provided(
        &self,
        provided: &[String],
    ) -> Result<Vec<String>, DbError> {
        let methods = self.payment_methods().await?;
        let missing: Vec<String> = methods
            .iter()
            .filter(|m| m.active && !provided.contains(&m.settlement_type))
            .map(|m| m.settlement_type.clone())
            .collect();
        self.stop_methods_of_types(&missing).await
    }

    pub async fn products(&self) -> Result<Vec<Product>, DbError> {
        let sql = format!("SELECT {} FROM products ORDER BY id", PRODUCTS.select());
        let rows = self.read_rows(&sql, Vec::new()).await?;
        rows.iter().map(rows::product).collect()
    }

    pub async fn product(&self, id: i64) -> Result<Option<Product>, DbError> {
        Ok(self.products().await?.into_iter().find(|p| p.id == id))
    }

    pub async fn ensure_product(
        &self,
        sku: &str,
        name: &str,
        price: i64,
        description: &str,
    ) -> Result<(), DbError> {
        let row = NewRow::new(&PRODUCTS)
            .set("sku", sku)
            .set("name", name)
            .set("price", price)
            .set("description", description)
            .set("recurring_months", None::<i64>)
            .set("charging_day", None::<i64>)
            .set("tax_class", TaxClass::Standard.as_str())
            .set("active", true);
        let sql = insert(&row, "ON CONFLICT (sku) DO NOTHING");
        self.write(&sql, row.into_values()).await.map(drop)
    }

    pub async fn product_by_sku(&self, sku: &str) -> Result<Option<Product>, DbError> {
        let sql = format!("SELECT {} FROM products WHERE sku = $1", PRODUCTS.select());
        let row = self.read_row(&sql, vec![sku.into()]).await?;
        row.as_ref().map(rows::product).transpose()
    }

    pub async fn create_product(&self, product: &NewProduct) -> Result<Product, DbError> {
        let recurrence = product.recurrence;
        let row = NewRow::new(&PRODUCTS)
            .set("sku", &product.sku)
            .set("name", &product.name)
            .set("price", product.price)
            .set("description", &product.description)
            .set(
                "recurring_months",
                recurrence.map(|r| i64::from(r.interval_months)),
            )
            .set(
                "charging_day",
                recurrence.map(|r| i64::from(r.charging_day)),
            )
            .set("tax_class", product.tax_class.as_str())
            .set("active", product.active);
        let sql = insert(&row, &format!("RETURNING {}", PRODUCTS.select()));
        let rows = self.write_rows(&sql, row.into_values()).await?;
        rows::product(rows.first().ok_or(DbError::NotFound)?)
    }

    pub async fn update_product(
        &self,
        sku: &str,
        product: &NewProduct,
    ) -> Result<Product, DbError> {
        let sql = format!(
            "UPDATE products SET name = $1, price = $2, description = $3, recurring_months = $4, \
             charging_day = $5, tax_class = $6, active = $7 WHERE sku = $8 RETURNING {}",
            PRODUCTS.select()
        );
        let recurrence = product.recurrence;
        let args = vec![
            product.name.as_str().into(),
            product.price.into(),
            product.description.as_str().into(),
            recurrence.map(|r| i64::from(r.interval_months)).into(),
            recurrence.map(|r| i64::from(r.charging_day)).into(),
            product.tax_class.as_str().into(),
            product.active.into(),
            sku.into(),
        ];
        let rows = self.write_rows(&sql, args).await?;
        rows::product(rows.first().ok_or(DbError::NotFound)?)
    }

    /// Checked and deleted in one write transaction, as payment methods are.
    pub async fn delete_product(&self, sku: &str) -> Result<(), DbError> {
        let mut tx = self.write.begin().await?;
        let found = DB::fetch(
            &mut tx,
            "SELECT id FROM products WHERE sku = $1",
            vec![sku.into()],
        )
        .await?;
        let id = found.first().ok_or(DbError::NotFound)?.int("id")?;
        let used = DB::fetch(&mut tx, DB::PRODUCT_IN_LINES, vec![id.into()]).await?;
        if used.first().ok_or(DbError::NotFound)?.int("used")? > 0 {
            return Err(DbError::Conflict("product_in_orders"));
        }
        DB::execute(
            &mut tx,
            "DELETE FROM products WHERE id = $1",
            vec![id.into()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_product_recurrence(
        &self,
        sku: &str,
        recurrence: Option<ProductRecurrence>,
    ) -> Result<(), DbError> {
        let args = vec![
            recurrence.map(|r| i64::from(r.interval_months)).into(),
            recurrence.map(|r| i64::from(r.charging_day)).into(),
            sku.into(),
        ];
        let changed = self
            .write(
                "UPDATE products SET recurring_months = $1, charging_day = $2 WHERE sku = $3",
                args,
            )
            .await?;
        if changed == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    pub async fn contracts(
        &self,
        member_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<RecurringContract>, DbError> {
        let sql = format!(
            "SELECT {} FROM recurring_contracts WHERE ($1 IS NULL OR member_id = $1) \
             ORDER BY id DESC LIMIT $2",
            CONTRACTS.select()
        );
        let rows = self
            .read_rows(&sql, vec![member_id.into(), limit.into()])
            .await?;
        rows.iter().map(rows::contract).collect()
    }

    pub async fn stop_contract(&self, id: i64) -> Result<RecurringContract, DbError> {
        let sql = format!(
            "UPDATE recurring_contracts SET status = 'stopped', updated_at = $1 \
             WHERE id = $2 AND status = 'continuation' RETURNING {}",
            CONTRACTS.select()
        );
        let stopped = self
            .write_rows(&sql, vec![now_millis().into(), id.into()])
            .await?;
        if let Some(row) = stopped.first() {
            return rows::contract(row);
        }
        let exists = self
            .write_rows(
                "SELECT id FROM recurring_contracts WHERE id = $1",
                vec![Value::from(id)],
            )
            .await?;
        Err(if exists.is_empty() {
            DbError::NotFound
        } else {
            DbError::Conflict("contract_stopped")
        })
    }
}
