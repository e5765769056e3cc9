//! Launching closures on EAL worker lcores, scoped like `std::thread::scope`:
//! a closure may borrow from the caller because [`scope`] does not return
//! until every lcore it launched has finished.

use super::error::{strerror, DpdkError};
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};

type Job<'env> = Box<dyn FnOnce() -> i32 + Send + 'env>;

/// Launches closures on lcores; see [`scope`].
pub struct Scope<'env> {
    launched: RefCell<Vec<u32>>,
    results: RefCell<Vec<(u32, i32)>>,
    _env: PhantomData<&'env mut &'env ()>,
}

impl std::fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("launched", &self.launched)
            .finish()
    }
}

/// The status an lcore reports when its closure panicked.
pub const PANICKED: i32 = -99;

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the pointer made by Box::into_raw in Scope::launch from
    // a Box<Job>; EAL passes it back exactly once.
    let job: Box<Job<'static>> = unsafe { Box::from_raw(arg.cast::<Job<'static>>()) };
    catch_unwind(AssertUnwindSafe(move || (*job)())).unwrap_or(PANICKED)
}

impl<'env> Scope<'env> {
    /// Runs `f` on worker lcore `lcore` (which must be in EAL's lcore list and
    /// idle). Its return value is reported by [`scope`].
    pub fn launch<F>(&self, lcore: u32, f: F) -> Result<(), DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'env,
    {
        let job: Job<'env> = Box::new(f);
        // SAFETY: only the lifetime changes. `scope` waits for every launched
        // lcore before it returns (also when unwinding, through WaitGuard), so
        // nothing the closure borrows from 'env can end while it runs.
        let job: Job<'static> = unsafe { std::mem::transmute::<Job<'env>, Job<'static>>(job) };
        let raw = Box::into_raw(Box::new(job));
        // SAFETY: trampoline has the lcore_function_t signature and takes back
        // ownership of `raw`; on failure EAL does not call it, and `raw` is
        // reclaimed below.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), raw.cast(), lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so EAL never took `raw`; we still own it.
            drop(unsafe { Box::from_raw(raw) });
            return Err(DpdkError::Launch {
                lcore,
                reason: strerror(rc),
            });
        }
        self.launched.borrow_mut().push(lcore);
        Ok(())
    }

    fn wait_all(&self) {
        for lcore in self.launched.borrow_mut().drain(..) {
            // SAFETY: `lcore` was launched by this scope and not yet waited for.
            let rc = unsafe { dpdk_sys::rte_eal_wait_lcore(lcore) };
            self.results.borrow_mut().push((lcore, rc));
        }
    }
}

struct WaitGuard<'a, 'env>(&'a Scope<'env>);

impl Drop for WaitGuard<'_, '_> {
    fn drop(&mut self) {
        self.0.wait_all();
    }
}

/// Runs `f` with a [`Scope`] and returns its result along with the status of
/// every lcore launched in it, after all of them have finished.
pub fn scope<'env, R>(f: impl FnOnce(&Scope<'env>) -> R) -> (R, Vec<(u32, i32)>) {
    let scope = Scope {
        launched: RefCell::new(Vec::new()),
        results: RefCell::new(Vec::new()),
        _env: PhantomData,
    };
    let r = {
        let _guard = WaitGuard(&scope);
        f(&scope)
    };
    let results = scope.results.into_inner();
    (r, results)
}
