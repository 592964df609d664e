//! The one loop every store's query stream runs: hand out a page of records, fetch the next
//! when it is used up, stop at the query's limit, after the last page, or after a failed read.
//!
//! A store only says how to read its next page ([`PageSource`]); keeping the limit and the
//! end-of-stream rules here means they are the same for every store, which the conformance
//! suite relies on.

use crate::error::Result;
use crate::record::Record;

/// What one read of a store returned.
pub(crate) struct Fetched {
    /// The records, in the query's order; a per-record failure is an `Err` item among them.
    pub(crate) records: Vec<Result<Record>>,
    /// Whether nothing follows this page (fewer rows than asked for, or the read failed).
    pub(crate) last: bool,
}

impl Fetched {
    /// A read that failed as a whole: its error is reported once and the stream ends, so a
    /// caller looping on the stream does not spin on the same failure.
    #[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
    pub(crate) fn failed(e: crate::Error) -> Fetched {
        Fetched {
            records: vec![Err(e)],
            last: true,
        }
    }
}

/// How a store reads the next page of a query, continuing where the previous page ended.
pub(crate) trait PageSource {
    /// Reads at most `want` (≥ 1) more records.
    fn next_page(&mut self, want: usize) -> Fetched;
}

/// A query's records as an iterator over a [`PageSource`].
pub(crate) struct Paged<S> {
    source: S,
    page_size: usize,
    buffer: std::vec::IntoIter<Result<Record>>,
    /// The query's limit, counting down.
    remaining: usize,
    done: bool,
}

impl<S: PageSource> Paged<S> {
    /// Streams `source` `page_size` records at a time, at most `limit` in all.
    pub(crate) fn new(source: S, page_size: usize, limit: Option<usize>) -> Self {
        Paged {
            source,
            page_size: page_size.max(1),
            buffer: Vec::new().into_iter(),
            remaining: limit.unwrap_or(usize::MAX),
            done: false,
        }
    }
}

impl<S: PageSource> Iterator for Paged<S> {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.remaining == 0 {
                return None;
            }
            if let Some(r) = self.buffer.next() {
                self.remaining -= 1;
                return Some(r);
            }
            if self.done {
                return None;
            }
            let page = self.source.next_page(self.page_size.min(self.remaining));
            self.done = page.last;
            self.buffer = page.records.into_iter();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// Serves `total` numbered results, recording how many each read asked for; `fail_at`
    /// makes that read fail as a whole.
    struct Fake {
        served: usize,
        total: usize,
        asked: Vec<usize>,
        fail_at: Option<usize>,
    }

    impl PageSource for Fake {
        fn next_page(&mut self, want: usize) -> Fetched {
            self.asked.push(want);
            if self.fail_at == Some(self.asked.len()) {
                return Fetched::failed(Error::NotSupported("read failed".into()));
            }
            let n = want.min(self.total - self.served);
            self.served += n;
            let records = (0..n)
                .map(|_| Err(Error::corrupt(self.served as u64, "a stand-in item")))
                .collect();
            Fetched {
                records,
                last: n < want,
            }
        }
    }

    fn fake(total: usize, fail_at: Option<usize>) -> Fake {
        Fake {
            served: 0,
            total,
            asked: Vec::new(),
            fail_at,
        }
    }

    #[test]
    fn the_limit_is_never_exceeded_nor_over_asked() {
        let mut stream = Paged::new(fake(100, None), 10, Some(25));
        assert_eq!(stream.by_ref().count(), 25);
        assert_eq!(stream.source.asked, vec![10, 10, 5]);
    }

    #[test]
    fn a_short_page_ends_the_stream_without_another_read() {
        let mut stream = Paged::new(fake(23, None), 10, None);
        assert_eq!(stream.by_ref().count(), 23);
        assert_eq!(stream.source.asked, vec![10, 10, 10]);
        assert!(stream.next().is_none());
        assert_eq!(stream.source.asked.len(), 3);
    }

    #[test]
    fn a_failed_read_is_reported_once_and_ends_the_stream() {
        let mut stream = Paged::new(fake(100, Some(2)), 10, None);
        let items: Vec<_> = stream.by_ref().collect();
        assert_eq!(items.len(), 11);
        assert!(matches!(items[10], Err(Error::NotSupported(_))));
        assert!(stream.next().is_none());
        assert_eq!(stream.source.asked.len(), 2);
    }
}
