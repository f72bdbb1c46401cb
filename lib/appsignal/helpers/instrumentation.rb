# frozen_string_literal: true

module Appsignal
  module Helpers
    # The public instrumentation API: `Appsignal.monitor`, `.instrument`,
    # `.set_error`, `.add_tags`... Every method is safe to call when AppSignal is not
    # started or no transaction is active: it then does nothing (and still runs the
    # block it was given).
    module Instrumentation
      # Runs the block in a new transaction and returns the block's value. Errors are
      # recorded on the transaction and re-raised unchanged.
      def monitor(action:, namespace: nil)
        return yield unless active?

        outer = Thread.current[Appsignal::Transaction::CURRENT] # one fiber-local read: this is the hot path
        if outer
          warn_nested_monitor(caller_locations(1, 1).first)
          return yield
        end

        transaction = Appsignal::Transaction.create(namespace || Appsignal::Transaction::HTTP_REQUEST)
        transaction.set_action(action.to_s) if action && action != :set_later
        begin
          yield
        rescue Exception => e # rubocop:disable Lint/RescueException
          transaction.set_error(e)
          raise
        ensure
          transaction.complete
          Appsignal::Transaction.clear_current
        end
      end

      # As in the AppSignal gem, `monitor` inside a transaction (another `monitor`, a
      # request, a job) only runs the block: the outer transaction keeps its namespace
      # and action. Said once per call site, not on every call of a hot path.
      def warn_nested_monitor(location)
        @nested_monitor_warned ||= {}
        return if @nested_monitor_warned.key?(location.to_s) || @nested_monitor_warned.size >= 100

        @nested_monitor_warned[location.to_s] = true
        message = "Appsignal.monitor was called inside another transaction, at #{location}: it has no effect " \
                  "there (the outer transaction keeps its namespace and action). Use Appsignal.instrument " \
                  "to time a block inside a transaction."
        internal_logger.warn(message)
        $stdout.puts("appsignal WARNING: #{message}")
      end
      private :warn_nested_monitor

      # `monitor`, then stop AppSignal (flushing), for scripts and one-off tasks.
      def monitor_and_stop(action:, namespace: nil, &block)
        monitor(action: action, namespace: namespace, &block)
      ensure
        stop("monitor_and_stop")
      end

      # Times the block as an event of the current transaction; returns the block's value.
      def instrument(name, title = nil, body = nil, body_format = Appsignal::EventFormatter::DEFAULT)
        ext = Thread.current[Appsignal::Transaction::CURRENT_EXT]
        return(block_given? ? yield : nil) unless ext

        ext.start_event
        begin
          yield if block_given?
        ensure
          ext.finish_event(name, title, body, body_format)
        end
      end

      # Like `instrument`, for a SQL query: the body is obfuscated before it is sent.
      def instrument_sql(name, title = nil, body = nil, &block)
        instrument(name, title, body, Appsignal::EventFormatter::SQL_BODY_FORMAT, &block)
      end

      def set_action(action)
        current_transaction&.set_action(action)
      end

      def set_namespace(namespace)
        current_transaction&.set_namespace(namespace)
      end

      def add_tags(tags = {})
        current_transaction&.add_tags(tags)
      end
      alias tag_request add_tags
      alias tag_job add_tags
      alias set_tags add_tags

      def add_params(params = nil, &block)
        current_transaction&.add_params(params, &block)
      end
      alias set_params add_params

      def add_session_data(data = nil, &block)
        current_transaction&.add_session_data(data, &block)
      end
      alias set_session_data add_session_data

      def add_headers(headers = nil, &block)
        current_transaction&.add_headers(headers, &block)
      end
      alias set_headers add_headers

      def add_custom_data(data)
        current_transaction&.add_custom_data(data)
      end
      alias set_custom_data add_custom_data

      def add_breadcrumb(category, action, message = "", metadata = {}, time = Time.now.utc)
        current_transaction&.add_breadcrumb(category, action, message, metadata, time)
      end

      # Adds the error to the current transaction, yielding it to the block. Without
      # a transaction it only logs (use report_error to record it anyway). Returns nil.
      def set_error(exception, &block)
        return unless valid_error?(exception, "set_error")

        transaction = current_transaction
        if transaction
          transaction.set_error(exception, &block)
        elsif active?
          internal_logger.debug("Appsignal.set_error: no transaction is active, #{exception.class} not recorded; " \
                                "use Appsignal.report_error to record it in a transaction of its own")
        end
        nil
      end
      alias set_exception set_error
      alias add_exception set_error

      # Always its own transaction, whatever is current.
      def send_error(exception, &block)
        return unless valid_error?(exception, "send_error") && active?
        return if ignored_error?(exception)

        transaction = Appsignal::Transaction.new(Appsignal::Transaction::HTTP_REQUEST)
        transaction.set_error(exception)
        block&.call(transaction)
        transaction.complete
        nil
      end
      alias send_exception send_error

      # On the current transaction when there is one, else in a new one.
      def report_error(exception, &block)
        return unless valid_error?(exception, "report_error") && active?

        transaction = current_transaction
        return send_error(exception, &block) unless transaction

        transaction.set_error(exception, &block)
        nil
      end

      # Runs the block; an error it raises is sent (its own transaction) and re-raised.
      def listen_for_error(&block)
        block.call
      rescue Exception => e # rubocop:disable Lint/RescueException
        send_error(e)
        raise
      end

      private

      def current_transaction
        return nil unless active?

        Appsignal::Transaction.current? ? Appsignal::Transaction.current : nil
      end

      def valid_error?(exception, helper)
        return true if exception.is_a?(Exception)

        internal_logger.error("Appsignal.#{helper}: cannot record an error: the given value is not an Exception " \
                              "but #{exception.class}; ignored")
        false
      end
    end
  end
end
