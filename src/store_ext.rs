//! [`AuditStoreExt`]: conveniences over any [`AuditStore`] (one record, one page, verify,
//! checkpoint), built only on the store contract.

use crate::error::Result;
use crate::query::Query;
use crate::record::{Checkpoint, Record, TenantId};
use crate::sink::AuditStore;
use crate::verify::{self, VerifyOptions, VerifyReport};

/// One page of a cursor-paginated read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The records of this page.
    pub records: Vec<Record>,
    /// The cursor for the next page ([`Query::after_seq`]), or `None` when this was the last.
    pub next_cursor: Option<u64>,
}

/// Conveniences over any [`AuditStore`].
pub trait AuditStoreExt: AuditStore {
    /// The record at `seq` in `tenant`'s trail.
    ///
    /// # Errors
    /// Store failures, or [`Error::Corrupt`](crate::Error::Corrupt) if it cannot be read.
    fn get(&self, tenant: &TenantId, seq: u64) -> Result<Option<Record>> {
        if seq == 0 {
            return Ok(None);
        }
        let q = Query::for_tenant(tenant.clone())
            .after_seq(seq - 1)
            .through_seq(seq)
            .limit(1);
        self.query(&q)?.next().transpose()
    }

    /// One page of `query` (whose `limit` is the page size, 100 if unset) and the cursor
    /// for the next.
    ///
    /// # Errors
    /// Store failures and unreadable records.
    fn page(&self, query: &Query) -> Result<Page> {
        let size = query.limit.unwrap_or(100);
        let q = query.clone().limit(size + 1);
        let mut records = self.query(&q)?.collect::<Result<Vec<_>>>()?;
        let more = records.len() > size;
        records.truncate(size);
        let next_cursor = if more {
            records.last().map(|r| r.seq)
        } else {
            None
        };
        Ok(Page {
            records,
            next_cursor,
        })
    }

    /// Verifies a tenant's chain; see [`verify`](crate::chain::verify).
    ///
    /// # Errors
    /// As [`verify`](crate::chain::verify).
    fn verify(&self, tenant: &TenantId) -> Result<VerifyReport> {
        verify::verify(self, tenant)
    }

    /// Verifies a tenant's trail with options (a checkpoint, the store's storage check); see
    /// [`verify_with`](crate::chain::verify_with).
    ///
    /// # Errors
    /// As [`verify_with`](crate::chain::verify_with).
    fn verify_with(&self, tenant: &TenantId, options: &VerifyOptions) -> Result<VerifyReport> {
        verify::verify_with(self, tenant, options)
    }

    /// Verifies a tenant's chain against a checkpoint; see [`verify_against`](crate::chain::verify_against).
    ///
    /// # Errors
    /// As [`verify_against`](crate::chain::verify_against).
    fn verify_against(&self, checkpoint: &Checkpoint) -> Result<VerifyReport> {
        verify::verify_against(self, checkpoint)
    }

    /// Verifies a chain against a signed checkpoint; see [`verify_against_signed`](crate::verify_against_signed).
    ///
    /// # Errors
    /// As [`verify_against_signed`](crate::verify_against_signed).
    fn verify_against_signed(
        &self,
        signed: &crate::SignedCheckpoint,
        verifier: &crate::CheckpointVerifier,
    ) -> Result<VerifyReport> {
        crate::signed::verify_against_signed(self, signed, verifier)
    }

    /// A checkpoint at the tenant's head, to keep outside the store.
    ///
    /// # Errors
    /// Store failures.
    fn checkpoint(&self, tenant: &TenantId) -> Result<Option<Checkpoint>> {
        Checkpoint::current(self, tenant)
    }
}

impl<T: AuditStore + ?Sized> AuditStoreExt for T {}
