//! `appsignal_extension.so`: the Ruby-facing layer. Only the init function and the
//! method table live here; the bindings are in `ruby_api/`, the logic in `core/`.

mod ruby_api;

use magnus::{function, method, prelude::*, Error, Ruby};
use ruby_api::{extension, metrics, transaction::RbTransaction};

#[magnus::init(name = "appsignal_extension")]
fn init(ruby: &Ruby) -> Result<(), Error> {
    ruby_api::guard::install_panic_hook();
    let appsignal = ruby.define_module("Appsignal")?;
    let ext = appsignal.define_module("Extension")?;
    ext.define_singleton_method("start", function!(extension::start, 8))?;
    ext.define_singleton_method("stop", function!(extension::stop, 1))?;
    ext.define_singleton_method("flush", function!(extension::flush, 1))?;
    ext.define_singleton_method("active?", function!(extension::is_active, 0))?;
    ext.define_singleton_method("disabled?", function!(extension::is_disabled, 0))?;
    ext.define_singleton_method("stats", function!(extension::stats, 0))?;
    ext.define_singleton_method("agent_version", function!(extension::agent_version, 0))?;
    ext.define_singleton_method("obfuscate_sql", function!(extension::obfuscate_sql, 2))?;
    ext.define_singleton_method("log", function!(extension::log, 2))?;
    ext.define_singleton_method("add_metric", function!(metrics::add_metric, 4))?;
    ext.define_singleton_method(
        "trigger_panic_for_tests",
        function!(extension::trigger_panic_for_tests, 0),
    )?;

    let txn = ext.define_class("Transaction", ruby.class_object())?;
    txn.define_singleton_method("new", function!(RbTransaction::new, 1))?;
    txn.define_method("start_event", method!(RbTransaction::start_event, 0))?;
    txn.define_method("finish_event", method!(RbTransaction::finish_event, 4))?;
    txn.define_method("record_event", method!(RbTransaction::record_event, 6))?;
    txn.define_method("offset_now_ns", method!(RbTransaction::offset_now_ns, 0))?;
    txn.define_method("set_action", method!(RbTransaction::set_action, 1))?;
    txn.define_method("set_namespace", method!(RbTransaction::set_namespace, 1))?;
    txn.define_method("set_tag", method!(RbTransaction::set_tag, 2))?;
    txn.define_method("set_metadata", method!(RbTransaction::set_metadata, 2))?;
    txn.define_method("set_header", method!(RbTransaction::set_header, 2))?;
    txn.define_method("set_data_json", method!(RbTransaction::set_data_json, 2))?;
    txn.define_method("add_breadcrumb", method!(RbTransaction::add_breadcrumb, 4))?;
    txn.define_method(
        "set_queue_start",
        method!(RbTransaction::set_queue_start, 1),
    )?;
    txn.define_method("set_error", method!(RbTransaction::set_error, 4))?;
    txn.define_method("action", method!(RbTransaction::action, 0))?;
    txn.define_method("namespace", method!(RbTransaction::namespace, 0))?;
    txn.define_method("id", method!(RbTransaction::id, 0))?;
    txn.define_method("error?", method!(RbTransaction::has_error, 0))?;
    txn.define_method("completed?", method!(RbTransaction::is_completed, 0))?;
    txn.define_method(
        "could_be_sampled?",
        method!(RbTransaction::could_be_sampled, 0),
    )?;
    txn.define_method("complete", method!(RbTransaction::complete, 0))?;
    Ok(())
}
