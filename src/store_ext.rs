//! [`AuditStoreExt`]: conveniences over any [`AuditStore`] (one record, one page, verify,
//! checkpoint), built only on the store contract.

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};
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

    /// The record with this id in `tenant`'s trail.
    ///
    /// Ids are UUIDv7 made from the record's time, so it looks first among the records of
    /// the millisecond the id names (one range of the time index); an id made otherwise (a
    /// record imported from a trail with other ids) is then looked for in the whole trail.
    /// Unreadable records are passed over.
    ///
    /// ```
    /// use audit_log::{Actor, AuditLog, AuditStoreExt, EntityRef, Event, MemorySink, TenantId};
    ///
    /// let store = MemorySink::new();
    /// let log = AuditLog::builder(store.clone()).build();
    /// let receipt = log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(7)))?;
    /// let found = store.find_by_id(&TenantId::default(), receipt.id)?;
    /// assert_eq!(found.map(|r| r.seq), Some(receipt.seq));
    /// # Ok::<(), audit_log::Error>(())
    /// ```
    ///
    /// # Errors
    /// Store failures.
    fn find_by_id(&self, tenant: &TenantId, id: Uuid) -> Result<Option<Record>> {
        let scan = |q: Query| -> Result<Option<Record>> {
            for item in self.query(&q)? {
                match item {
                    Ok(r) if r.id == id => return Ok(Some(r)),
                    Ok(_) | Err(Error::Corrupt { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(None)
        };
        let all = Query::for_tenant(tenant.clone());
        let named = id
            .get_timestamp()
            .map(|ts| ts.to_unix())
            .and_then(|(secs, nanos)| {
                DateTime::<Utc>::from_timestamp(i64::try_from(secs).ok()?, nanos)
            });
        if let Some(t) = named {
            if let Some(r) = scan(all.clone().since(t).until(t + Duration::milliseconds(1)))? {
                return Ok(Some(r));
            }
        }
        scan(all)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{chain, Actor, AuditLog, EntityRef, Event, MemorySink, SealedSink};

    /// An id whose time is not the record's (a trail imported from elsewhere) is still found,
    /// by the whole-trail scan; an unknown id is `None`.
    #[test]
    fn ids_are_found_in_their_millisecond_or_by_a_scan() {
        let store = MemorySink::new();
        let log = AuditLog::builder(store.clone()).build();
        for i in 0..3 {
            log.record(&Actor::system(), Event::user_deleted(EntityRef::id_only(i)))
                .unwrap();
        }
        let tenant = TenantId::default();
        let second = store.records()[1].clone();
        assert_eq!(store.find_by_id(&tenant, second.id).unwrap(), Some(second));

        // The same trail, its last record re-identified (and re-hashed) with a random id.
        let copy = MemorySink::new();
        let mut records = store.records();
        let foreign = Uuid::from_u128(0x0123_4567_89ab_4def_8123_4567_89ab_cdef);
        records[2].id = foreign;
        records[2].hash = chain::compute_hash(&records[2]);
        copy.append_sealed(records.clone()).unwrap();
        assert_eq!(
            copy.find_by_id(&tenant, foreign).unwrap(),
            Some(records[2].clone())
        );
        assert_eq!(copy.find_by_id(&tenant, Uuid::nil()).unwrap(), None);
    }
}
