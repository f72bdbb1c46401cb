# frozen_string_literal: true

module Appsignal
  module Rack
    # One transaction per request: created here unless an outer AppSignal middleware
    # already made one for this request (then this layer only adds its event). The
    # response body is wrapped so the transaction completes when the body is closed.
    class AbstractMiddleware
      TRANSACTION_KEY = "appsignal.transaction"
      ROUTE_KEY = "appsignal.route"
      DEFAULT_EVENT = "process_request.rack"

      def initialize(app, options = {})
        @app = app
        @options = options
        @event_name = options.fetch(:instrument_event_name, DEFAULT_EVENT)
        @report_errors = options.fetch(:report_errors, true)
      end

      def call(env)
        return @app.call(env) unless Appsignal.active?

        outer = env[TRANSACTION_KEY]
        return call_nested(env, outer) if outer

        transaction = Appsignal::Transaction.create(Appsignal::Transaction::HTTP_REQUEST)
        env[TRANSACTION_KEY] = transaction
        call_with_transaction(env, transaction)
      end

      private

      def call_nested(env, transaction)
        transaction.instrument(@event_name) { instrument_app_call(env, transaction) }
      end

      def call_with_transaction(env, transaction)
        request = ::Rack::Request.new(env)
        status, headers, body = transaction.instrument(@event_name) { instrument_app_call(env, transaction) }
        transaction.set_metadata("response_status", status)
        add_request_data(transaction, request, env)
        [status, headers, BodyWrapper.wrap(body, transaction)]
      rescue Exception # rubocop:disable Lint/RescueException
        # Raised before a body exists: nothing will call close, so complete here.
        add_request_data(transaction, request, env)
        transaction.complete
        Appsignal::Transaction.clear_current
        raise
      end

      def instrument_app_call(env, transaction)
        @app.call(env)
      rescue Exception => e # rubocop:disable Lint/RescueException
        transaction.set_error(e) if @report_errors
        raise
      end

      def add_request_data(transaction, request, env)
        return unless request

        transaction.set_action_if_nil(action_name(env))
        transaction.set_metadata("method", request.request_method)
        transaction.set_metadata("path", request.path)
        transaction.set_queue_start(QueueStart.from_env(env))
        transaction.add_params_if_nil { params_for(request) }
        transaction.add_headers_if_nil { env }
      end

      # Subclasses name the action from their framework's route.
      def action_name(env)
        env[ROUTE_KEY]
      end

      def params_for(request)
        request.params
      rescue StandardError
        nil
      end
    end
  end
end
