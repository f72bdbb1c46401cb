//! `Appsignal::Extension::Transaction`: a Ruby handle on a core transaction. The Ruby
//! side keeps it in a fiber-local, so each fiber has its own.

use super::guard::guarded;
use appsignal_ext_core::reporter;
use appsignal_ext_core::sample_gate::SampleGate;
use appsignal_ext_core::transaction::{BodyFormat, ErrorReport, Transaction};
use magnus::{Error, RString};
use std::cell::RefCell;
use std::time::Instant;

#[magnus::wrap(class = "Appsignal::Extension::Transaction", free_immediately, size)]
pub struct RbTransaction {
    /// `None` once completed: later calls are no-ops.
    inner: RefCell<Option<Transaction>>,
}

/// Borrows a Ruby string as `&str` for the length of `f`, without the copy a `String`
/// argument costs (one allocation per event name on the hot path). A string that is
/// not valid UTF-8 is converted as magnus converts `String` arguments, raising the
/// same error.
fn borrow_str<T>(value: RString, f: impl FnOnce(&str) -> T) -> Result<T, Error> {
    // SAFETY: `f` runs Rust code only and never calls into Ruby, so the string cannot
    // be moved, modified or collected while the slice is alive.
    match unsafe { value.as_str() } {
        Ok(borrowed) => Ok(f(borrowed)),
        Err(_) => Ok(f(&value.to_string()?)),
    }
}

fn borrow_opt_str<T>(value: Option<RString>, f: impl FnOnce(&str) -> T) -> Result<T, Error> {
    match value {
        Some(value) => borrow_str(value, f),
        None => Ok(f("")),
    }
}

fn body_format(value: i64) -> BodyFormat {
    if value == 1 {
        BodyFormat::Sql
    } else {
        BodyFormat::Plain
    }
}

impl RbTransaction {
    pub fn new(namespace: RString) -> Result<RbTransaction, Error> {
        let inner = borrow_str(namespace, |namespace| {
            guarded(None, || {
                Some(Transaction::new(namespace, reporter::fork_generation()))
            })
        })?;
        Ok(RbTransaction {
            inner: RefCell::new(inner),
        })
    }

    /// Runs `f` on the open transaction; a no-op (default value) when it is completed,
    /// the extension is disabled, or the call re-enters.
    fn with<T: Default>(&self, f: impl FnOnce(&mut Transaction) -> T) -> T {
        guarded(T::default(), || match self.inner.try_borrow_mut() {
            Ok(mut slot) => slot.as_mut().map(f).unwrap_or_default(),
            Err(_) => T::default(),
        })
    }

    pub fn start_event(&self) {
        self.with(|t| t.start_event())
    }

    pub fn finish_event(
        &self,
        name: RString,
        title: Option<RString>,
        body: Option<RString>,
        format: i64,
    ) -> Result<(), Error> {
        borrow_str(name, |name| {
            borrow_opt_str(title, |title| {
                borrow_opt_str(body, |body| {
                    self.with(|t| t.finish_event(name, title, body, body_format(format)))
                })
            })
        })???;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn record_event(
        &self,
        name: RString,
        title: Option<RString>,
        body: Option<RString>,
        format: i64,
        start_offset_ns: u64,
        duration_ns: u64,
    ) -> Result<(), Error> {
        borrow_str(name, |name| {
            borrow_opt_str(title, |title| {
                borrow_opt_str(body, |body| {
                    self.with(|t| {
                        t.record_event(
                            name,
                            title,
                            body,
                            body_format(format),
                            start_offset_ns,
                            duration_ns,
                        )
                    })
                })
            })
        })???;
        Ok(())
    }

    pub fn offset_now_ns(&self) -> u64 {
        self.with(|t| t.offset_now_ns())
    }

    pub fn set_action(&self, action: RString) -> Result<(), Error> {
        borrow_str(action, |action| self.with(|t| t.set_action(action)))
    }

    pub fn set_namespace(&self, namespace: String) {
        self.with(|t| t.set_namespace(&namespace))
    }

    pub fn set_tag(&self, key: RString, value: RString) -> Result<(), Error> {
        borrow_str(key, |key| {
            borrow_str(value, |value| self.with(|t| t.set_tag(key, value)))
        })?
    }

    pub fn set_metadata(&self, key: RString, value: RString) -> Result<(), Error> {
        borrow_str(key, |key| {
            borrow_str(value, |value| self.with(|t| t.set_metadata(key, value)))
        })?
    }

    pub fn set_header(&self, key: RString, value: RString) -> Result<(), Error> {
        borrow_str(key, |key| {
            borrow_str(value, |value| self.with(|t| t.set_header(key, value)))
        })?
    }

    pub fn set_data_json(&self, kind: String, json: String) -> bool {
        self.with(|t| t.set_data_json(&kind, &json))
    }

    pub fn add_breadcrumb(
        &self,
        category: String,
        action: String,
        message: String,
        metadata_json: String,
    ) {
        self.with(|t| t.add_breadcrumb(&category, &action, &message, &metadata_json))
    }

    pub fn set_queue_start(&self, queue_start_unix_ms: i64) {
        self.with(|t| t.set_queue_start(queue_start_unix_ms))
    }

    pub fn set_error(
        &self,
        name: String,
        message: String,
        backtrace: Vec<String>,
        causes: Vec<(String, String, Vec<String>)>,
    ) {
        self.with(|t| {
            t.set_error(ErrorReport {
                name,
                message,
                backtrace,
                causes,
            })
        })
    }

    pub fn action(&self) -> String {
        self.with(|t| t.action().to_string())
    }

    pub fn namespace(&self) -> String {
        self.with(|t| t.namespace().to_string())
    }

    pub fn id(&self) -> String {
        self.with(|t| t.id().to_string())
    }

    pub fn has_error(&self) -> bool {
        self.with(|t| t.has_error())
    }

    /// False when the agent would drop this transaction's sample data anyway.
    pub fn could_be_sampled(&self) -> bool {
        self.with(|t| t.could_be_sampled(SampleGate::global(), Instant::now()))
    }

    pub fn is_completed(&self) -> bool {
        self.inner
            .try_borrow()
            .map(|slot| slot.is_none())
            .unwrap_or(false)
    }

    /// Closes the transaction and hands it to the reporter. True when it was queued.
    pub fn complete(&self) -> bool {
        guarded(false, || {
            let taken = match self.inner.try_borrow_mut() {
                Ok(mut slot) => slot.take(),
                Err(_) => None,
            };
            taken.is_some_and(reporter::send_transaction)
        })
    }
}
