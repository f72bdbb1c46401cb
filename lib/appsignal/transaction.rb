# frozen_string_literal: true

require "appsignal/utils/data_sanitizer"
require "appsignal/utils/backtrace_cleaner"
require "appsignal/transaction/limits"
require "appsignal/transaction/sample_data"

module Appsignal
  # A request, job or `monitor` block. The current one lives in a fiber-local
  # (`Thread.current[]` is per fiber), so concurrent fibers and threads never mix
  # their events. Timing and events live in the native extension; this class holds
  # what Ruby must filter and serialize (params, session data) until it completes.
  class Transaction
    HTTP_REQUEST = "http_request"
    BACKGROUND_JOB = "background_job"
    ACTION_CABLE = "action_cable"

    CURRENT = :__appsignal_transaction
    # The native handle of the current transaction, read directly by `instrument`
    # so the per-event path is one fiber-local read and two native calls.
    CURRENT_EXT = :__appsignal_transaction_ext
    ERRORS_LIMIT = 10
    CAUSES_LIMIT = 10
    include Limits
    include SampleData

    class << self
      # Starts a transaction and makes it the current one.
      def create(namespace)
        transaction = new(namespace)
        Thread.current[CURRENT] = transaction
        Thread.current[CURRENT_EXT] = transaction.ext
        transaction
      end

      def current
        Thread.current[CURRENT] || NilTransaction::INSTANCE
      end

      def current?
        !Thread.current[CURRENT].nil?
      end

      def clear_current
        Thread.current[CURRENT] = nil
        Thread.current[CURRENT_EXT] = nil
      end

      # Restores an outer transaction after a nested one (an inline Active Job).
      def restore_current(transaction)
        Thread.current[CURRENT] = transaction
        Thread.current[CURRENT_EXT] = transaction&.ext
      end

      # The allowed request headers as a Hash: a Rack env has 30 to 60 keys, and
      # `Array#include?` on each cost a hello-world request about 3 µs (bench/micro.rb).
      # Cached for the list last seen (the config's), rebuilt when it changes.
      def header_lookup(allowed)
        cached = @header_lookup
        return cached[2] if cached && cached[0].equal?(allowed) && cached[1] == allowed.length

        lookup = allowed.to_h { |name| [name.to_s, true] }
        @header_lookup = [allowed, allowed.length, lookup]
        lookup
      end

      # OTLP export turns every transaction into a span with its attributes, so
      # the sample-data shortcut in #complete is off when it is configured.
      def write_all_sample_data?
        @write_all_sample_data = !ENV.fetch("APPSIGNAL_OTLP_ENDPOINT", "").strip.empty? if @write_all_sample_data.nil?
        @write_all_sample_data
      end

      # Completes the current transaction and clears it.
      def complete_current!
        current.complete
      ensure
        clear_current
      end
    end

    attr_reader :ext, :namespace, :action, :error

    def initialize(namespace, ext: nil)
      @namespace = namespace.to_s
      @ext = ext || Appsignal::Extension::Transaction.new(@namespace)
      # @action, @tags, @params, @error... start unset (nil): setting each here cost
      # the app thread about 10% of a `monitor` block (bench/micro.rb).
      @completed = false
      @discarded = false
    end

    def tags
      @tags || {}
    end

    def nil_transaction?
      false
    end

    def completed?
      @completed
    end

    def id
      @ext.id
    end

    def set_action(action)
      return unless action

      @action = action.to_s
      @ext.set_action(@action)
    end

    def set_action_if_nil(action)
      set_action(action) unless @action
    end

    def set_namespace(namespace)
      return unless namespace

      @namespace = namespace.to_s
      @ext.set_namespace(@namespace)
    end

    # Tags: String/Symbol keys; String, Symbol, Integer, true/false values. Others are
    # skipped (as the original gem does) rather than stringified into noise.
    def add_tags(given = {})
      return unless given.is_a?(Hash)

      given.each do |key, value|
        next unless key.is_a?(String) || key.is_a?(Symbol)
        next unless value.is_a?(String) || value.is_a?(Symbol) || value.is_a?(Integer) ||
                    value == true || value == false

        store_tag(key.to_s, value.to_s)
      end
      nil
    end
    alias set_tags add_tags

    # Params may be a value or a block evaluated only when the transaction is sent.
    def add_params(given = nil, &block)
      @params = merge_data(@params, block || given)
    end
    alias set_params add_params

    def add_params_if_nil(given = nil, &block)
      add_params(given, &block) unless @params
    end
    alias set_params_if_nil add_params_if_nil

    def add_session_data(given = nil, &block)
      @session_data = merge_data(@session_data, block || given)
    end
    alias set_session_data add_session_data

    def add_headers(given = nil, &block)
      @headers = merge_data(@headers, block || given)
    end
    alias set_headers add_headers

    def add_headers_if_nil(given = nil, &block)
      add_headers(given, &block) unless @headers
    end

    def add_custom_data(given)
      @custom_data = merge_data(@custom_data, given)
    end
    alias set_custom_data add_custom_data

    # The latest BREADCRUMBS_LIMIT are kept; older ones are counted.
    def add_breadcrumb(category, action, message = "", metadata = {}, _time = Time.now.utc)
      count_breadcrumb
      metadata_json = Utils::DataSanitizer.to_json(metadata.is_a?(Hash) ? metadata : {})
      @ext.add_breadcrumb(category.to_s, action.to_s, message.to_s, metadata_json)
    end

    def set_metadata(key, value)
      return if key.nil? || value.nil?

      @ext.set_metadata(key.to_s, value.to_s)
    end

    # Wall-clock time in milliseconds since the epoch when the request or job was
    # queued, e.g. from X-Request-Start.
    def set_queue_start(queue_start_ms)
      @ext.set_queue_start(Integer(queue_start_ms)) if queue_start_ms
    rescue ArgumentError, TypeError
      nil
    end

    # The first error is this transaction's; later ones (up to ERRORS_LIMIT) are
    # sent as copies of it, each with its own error, so none is lost.
    def set_error(error, &block)
      return unless error.is_a?(Exception)
      return if Appsignal.ignored_error?(error)

      if @error.nil?
        @error = error
        @ext.set_error(*native_error(error))
        block&.call(self)
      elsif extra_error_allowed?(error)
        (@extra_errors ||= []) << [error, block]
      end
    end
    alias add_error set_error

    def has_error?
      !@error.nil?
    end

    def instrument(name, title = nil, body = nil, body_format = Appsignal::EventFormatter::DEFAULT)
      @ext.start_event
      yield if block_given?
    ensure
      @ext.finish_event(name.to_s, title, body, body_format)
    end

    def start_event
      @ext.start_event
    end

    def finish_event(name, title, body, body_format = Appsignal::EventFormatter::DEFAULT)
      @ext.finish_event(name.to_s, title, body, body_format)
    end

    def record_event(name, title, body, duration_ns, body_format = Appsignal::EventFormatter::DEFAULT)
      start = [@ext.offset_now_ns - duration_ns.to_i, 0].max
      @ext.record_event(name.to_s, title, body, body_format, start, duration_ns.to_i)
    end

    # Drops the transaction: nothing is sent.
    def discard!
      @discarded = true
    end

    def discarded?
      @discarded
    end

    def complete
      return if @completed

      @completed = true
      return if @discarded || ignored?

      @extra_errors&.each { |(error, block)| send_copy_with(error, block) }
      write_data
      @ext.complete
    end

    private

    def extra_error_allowed?(error)
      return false if error.equal?(@error)
      return true if @extra_errors.nil?
      return false if @extra_errors.length >= ERRORS_LIMIT - 1

      @extra_errors.none? { |(seen, _)| seen.equal?(error) }
    end

    def ignored?
      config = Appsignal.config
      return false unless config

      config[:ignore_actions].include?(@action) || config[:ignore_namespaces].include?(@namespace)
    end

    def send_copy_with(error, block)
      copy = Transaction.new(@namespace)
      copy.set_action(@action)
      copy.add_tags(tags)
      copy.set_error(error, &block)
      copy.complete
    end

    def resolve(value)
      value.respond_to?(:call) ? value.call : value
    rescue StandardError => e
      { "_appsignal_error" => "data block raised #{e.class}" }
    end

    def merge_data(current, given)
      return current if given.nil?
      return given if current.nil? || given.respond_to?(:call) || current.respond_to?(:call)
      return current.merge(given) if current.is_a?(Hash) && given.is_a?(Hash)

      given
    end

    def native_error(error)
      root = Appsignal.config&.root_path
      causes = []
      cause = error.cause
      while cause && causes.length < CAUSES_LIMIT
        causes << [cause.class.name.to_s, cause.message.to_s,
                   Utils::BacktraceCleaner.clean(cause.backtrace, root)]
        cause = cause.cause
      end
      backtrace = Utils::BacktraceCleaner.clean(error.backtrace, root)
      [error.class.name.to_s, error.message.to_s, backtrace, causes]
    end

    # Stands in when no transaction is active: every call is accepted and ignored.
    class NilTransaction
      INSTANCE = new

      def nil_transaction?
        true
      end

      def method_missing(_name, *_args, **_kwargs)
        yield if block_given?
        nil
      end

      def respond_to_missing?(_name, _include_private = false)
        true
      end
    end
  end
end
