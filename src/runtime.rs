//! Sync clients inside a host's async runtime.
//!
//! The sync `postgres` client drives a tokio runtime of its own: every call blocks on it, and
//! dropping a client shuts it down. tokio forbids both on a thread that is running async code
//! (a runtime worker, or inside `block_on`): "Cannot start a runtime from within a runtime",
//! a panic, repeated when the client is dropped during the unwind, which aborts the process.
//! A host on tokio that calls the store's sync methods from a handler, or drops the last
//! handle of a store there, would hit it.
//!
//! So every piece of the PostgreSQL store that touches a client runs through
//! [`off_async`]: called from a thread that is in a runtime's context, it runs the work on a
//! scoped thread of its own (about 20–50 µs) and blocks until it is done; elsewhere, it runs
//! it in place. The blocking is the caller's choice, as with any sync call from async code;
//! the async front door ([`crate::async_log`], feature `tokio`) runs store calls on tokio's
//! blocking pool instead, where a runtime's context is set but no runtime is being driven, and
//! marks those calls with [`blocking_section`] so they run in place without the extra thread.

#[cfg(feature = "postgres")]
use std::cell::Cell;

#[cfg(feature = "postgres")]
thread_local! {
    /// Set while the async front door runs a store call on tokio's blocking pool.
    static BLOCKING_SECTION: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` as a section of a blocking-pool task, where sync clients may block.
#[cfg(feature = "tokio")]
pub(crate) fn blocking_section<T>(f: impl FnOnce() -> T) -> T {
    #[cfg(feature = "postgres")]
    {
        struct Reset(bool);
        impl Drop for Reset {
            fn drop(&mut self) {
                BLOCKING_SECTION.with(|b| b.set(self.0));
            }
        }
        let _reset = Reset(BLOCKING_SECTION.with(|b| b.replace(true)));
        f()
    }
    #[cfg(not(feature = "postgres"))]
    f()
}

/// Whether blocking on a runtime of one's own would panic on this thread (as far as can be
/// told: a runtime's context is set and this is not a blocking section).
#[cfg(feature = "postgres")]
fn in_async_context() -> bool {
    !BLOCKING_SECTION.with(Cell::get) && tokio::runtime::Handle::try_current().is_ok()
}

/// Runs `f` where a sync client may block: in place, or on a thread of its own when called
/// from async code. A panic in `f` resumes on the caller's thread.
#[cfg(feature = "postgres")]
pub(crate) fn off_async<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if !in_async_context() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(value) => value,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

#[cfg(all(test, feature = "postgres"))]
mod tests {
    use super::*;

    fn runs_here() -> bool {
        let here = std::thread::current().id();
        off_async(move || std::thread::current().id() == here)
    }

    #[test]
    fn in_place_outside_a_runtime_and_on_a_thread_inside_one() {
        assert!(runs_here());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert!(!rt.block_on(async { runs_here() }));
        // On the blocking pool a runtime's context is set too: hop, unless marked.
        assert!(!rt.block_on(async { tokio::task::spawn_blocking(runs_here).await.unwrap() }));
    }

    #[cfg(feature = "tokio")]
    #[test]
    fn in_place_in_a_blocking_section() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let marked = rt.block_on(async {
            tokio::task::spawn_blocking(|| blocking_section(runs_here))
                .await
                .unwrap()
        });
        assert!(marked);
        // The mark ends with the section.
        assert!(!rt.block_on(async {
            tokio::task::spawn_blocking(|| {
                blocking_section(|| ());
                runs_here()
            })
            .await
            .unwrap()
        }));
    }

    #[test]
    fn a_panic_comes_back_to_the_caller() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let caught = rt
            .block_on(async { std::panic::catch_unwind(|| off_async(|| panic!("boom"))).is_err() });
        assert!(caught);
    }
}
