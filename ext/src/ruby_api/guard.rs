//! Panic isolation. A panic inside a Ruby method call would unwind into the VM, so
//! every binding catches it here: the extension disables itself (every later call is
//! a no-op), logs once, and the app goes on.

use appsignal_ext_core::log::{self, Level};
use appsignal_ext_core::reporter;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

static DISABLED: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

pub fn is_disabled() -> bool {
    DISABLED.load(Ordering::Relaxed)
}

/// Runs `f` unless the extension is disabled; a panic disables it and yields `fallback`.
pub fn guarded<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    if is_disabled() {
        return fallback;
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(_) => {
            disable();
            fallback
        }
    }
}

fn disable() {
    if !DISABLED.swap(true, Ordering::SeqCst) {
        log::write(
            Level::Error,
            "internal error in the AppSignal extension; it is now disabled for this process and reports nothing. \
             The app is not affected. Please report this with the lines above.",
        );
        reporter::stop(Duration::from_millis(100));
    }
}

/// Panic messages go to the AppSignal log, not to the app's stderr.
pub fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_reporter_or_ruby_thread = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with("appsignal"))
                || DISABLED.load(Ordering::Relaxed)
                || is_in_extension(info);
            if on_reporter_or_ruby_thread {
                log::write(
                    Level::Error,
                    &format!("panic in the AppSignal extension: {info}"),
                );
            } else {
                previous(info);
            }
        }));
    });
}

fn is_in_extension(info: &std::panic::PanicHookInfo<'_>) -> bool {
    info.location().is_some_and(|l| {
        l.file().contains("appsignal")
            || l.file().contains("ruby_api")
            || l.file().contains("core/src")
    })
}
