//! The one door for panics: every call the host makes into module code, and each batch of either
//! backend's writer, runs through here, so a bug becomes an error its caller answers instead of a dead
//! task.
//!
//! A gateway module is code the host does not own: a gateway's author wrote it, and only its tests say
//! it never panics. Each call into a `PaymentModule` while serving (reading a notification or a return,
//! the answers to a notification, starting a payment or a card change) and each settings check goes
//! through [`module_call`] or [`module_call_async`]. A panic there becomes a [`ModulePanic`], logged
//! once here, and the caller answers as its audience expects: a notification gets the module's
//! "unavailable" (or a plain 503 when that call panics too) and is journaled as refused; checkout gets
//! a 503 page or JSON; settings get a settings error. Nothing else in the host calls `catch_unwind`.
//!
//! Catching is sound here (`AssertUnwindSafe`) because after a panic the host drops everything the call
//! was building and keeps only the module itself, which the module API requires to be a translator
//! without state of its own.
//!
//! Two panics cannot be caught anywhere in the host: any panic under `panic = "abort"` (the workspace
//! builds with unwinding, the default), and a panic inside a module loaded from a shared library. Such
//! a library carries its own copy of the standard library, and a panic unwinding out of it is a
//! foreign exception to the host's, which aborts the process ("Rust cannot catch foreign
//! exceptions"). A dynamic module must not let a panic leave its code.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use futures_util::FutureExt;

/// A panic caught in module code: which module, which call, and the panic's message. Its text is what
/// the journal keeps as the reason of a refused notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("module panicked: {message} (in {module}.{call})")]
pub struct ModulePanic {
    /// The module's id.
    pub module: String,
    /// The method the host called, e.g. `parse_notification`.
    pub call: &'static str,
    /// The panic's message.
    pub message: String,
}

/// A panic caught in the host's own code, with its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("panicked: {0}")]
pub struct Panicked(pub String);

/// Runs `call`, catching a panic.
pub fn catch<T>(call: impl FnOnce() -> T) -> Result<T, Panicked> {
    catch_unwind(AssertUnwindSafe(call)).map_err(|payload| Panicked(message(payload.as_ref())))
}

/// Runs `future` to its end, catching a panic in any of its polls.
pub async fn catch_async<F: Future>(future: F) -> Result<F::Output, Panicked> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| Panicked(message(payload.as_ref())))
}

/// Calls into module `module`'s `call` method (run by `run`), catching a panic.
pub fn module_call<T>(
    module: &str,
    call: &'static str,
    run: impl FnOnce() -> T,
) -> Result<T, ModulePanic> {
    catch(run).map_err(|panicked| module_panic(module, call, panicked))
}

/// Calls module `module`'s async `call` method (`start` calls it) and awaits its future, catching a
/// panic in either: a method written by hand may run code before it returns its future.
pub async fn module_call_async<F: Future>(
    module: &str,
    call: &'static str,
    start: impl FnOnce() -> F,
) -> Result<F::Output, ModulePanic> {
    let future = module_call(module, call, start)?;
    catch_async(future)
        .await
        .map_err(|panicked| module_panic(module, call, panicked))
}

fn module_panic(module: &str, call: &'static str, Panicked(message): Panicked) -> ModulePanic {
    let panic = ModulePanic {
        module: module.to_owned(),
        call,
        message,
    };
    tracing::error!(module = %panic.module, call, "{panic}; the call is answered as failed");
    panic
}

/// A panic's message: the `&str` or `String` that `panic!` carries, or a placeholder.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        assert_eq!(module_call("m", "respond", || 7), Ok(7));
        let caught = module_call("m", "respond", || -> u8 { panic!("bad {}", "input") });
        let panic = caught.unwrap_err();
        assert_eq!(panic.message, "bad input");
        assert_eq!(
            panic.to_string(),
            "module panicked: bad input (in m.respond)"
        );
        let without_text = catch(|| std::panic::panic_any(42_u8));
        assert_eq!(
            without_text,
            Err(Panicked("a panic without a message".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_panic_in_any_poll_of_a_future_is_caught() {
        let ok = module_call_async("m", "start_payment", || async { 1 }).await;
        assert_eq!(ok, Ok(1));
        let later = async {
            tokio::task::yield_now().await;
            if ok.is_ok() {
                panic!("after a yield");
            }
        };
        let caught = module_call_async("m", "start_payment", || later).await;
        assert_eq!(caught.unwrap_err().message, "after a yield");
        // A method that panics before it returns its future.
        let early = module_call_async("m", "start_payment", || -> std::future::Ready<u8> {
            panic!("before the future")
        });
        assert_eq!(early.await.unwrap_err().message, "before the future");
        // The runtime and the task that caught it go on.
        assert_eq!(catch_async(async { 2 }).await, Ok(2));
    }
}
