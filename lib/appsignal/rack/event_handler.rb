# frozen_string_literal: true

require "rack"
require "rack/events"

module Appsignal
  module Rack
    # A `Rack::Events` handler: `use ::Rack::Events, [Appsignal::Rack::EventHandler.new]`
    # as the first middleware. It opens the request's transaction before any other
    # middleware runs and completes it when the server has sent the whole body
    # (on_finish), so slow clients and streaming bodies are timed too. AppSignal
    # middleware further down (Rails, Sinatra, InstrumentationMiddleware) sees the
    # transaction in the env and only adds its event and its action name.
    class EventHandler
      include ::Rack::Events::Abstract

      EVENT_NAME = "process_request.rack"
      HANDLER_ID_KEY = "appsignal.event_handler_id"
      ERROR_KEY = "appsignal.event_handler.error"

      # A handler in one app must not complete the transaction of an outer app's
      # handler, so each instance only finishes what it started.
      def initialize
        @id = object_id
      end

      def on_start(request, _response)
        return unless Appsignal.active?

        env = request.env
        env[HANDLER_ID_KEY] ||= @id
        return unless env[HANDLER_ID_KEY] == @id
        return if env[AbstractMiddleware::TRANSACTION_KEY]

        transaction = Appsignal::Transaction.create(Appsignal::Transaction::HTTP_REQUEST)
        env[AbstractMiddleware::TRANSACTION_KEY] = transaction
        transaction.start_event
      rescue StandardError => e
        log_failure("on_start", e)
      end

      def on_error(request, _response, error)
        transaction = own_transaction(request)
        return unless transaction

        request.env[ERROR_KEY] = true
        transaction.set_error(error)
      rescue StandardError => e
        log_failure("on_error", e)
      end

      def on_finish(request, response)
        transaction = own_transaction(request)
        return unless transaction

        env = request.env
        transaction.finish_event(EVENT_NAME, nil, nil)
        status = response_status(response, env)
        transaction.add_tags(response_status: status) if status
        transaction.set_metadata("response_status", status)
        add_request_data(transaction, request, env)
        transaction.complete
      rescue StandardError => e
        log_failure("on_finish", e)
      ensure
        Appsignal::Transaction.clear_current if transaction && Appsignal::Transaction.current.equal?(transaction)
      end

      private

      # An error raised through Rack::Events leaves no response: Rack servers answer 500.
      def response_status(response, env)
        return response.status if response

        env[ERROR_KEY] ? 500 : nil
      end

      def own_transaction(request)
        return nil unless request.env[HANDLER_ID_KEY] == @id

        request.env[AbstractMiddleware::TRANSACTION_KEY]
      end

      def add_request_data(transaction, request, env)
        transaction.set_action_if_nil(env[AbstractMiddleware::ROUTE_KEY])
        transaction.set_metadata("method", request.request_method)
        transaction.set_metadata("path", request.path)
        transaction.set_queue_start(QueueStart.from_env(env))
        transaction.add_params_if_nil { safe_params(request) }
        transaction.add_headers_if_nil { env }
      end

      def safe_params(request)
        request.params
      rescue StandardError
        nil
      end

      # The handler runs in the request path: it must never break the app.
      def log_failure(callback, error)
        Appsignal.internal_logger.error("Appsignal::Rack::EventHandler##{callback} failed: " \
                                        "#{error.class}: #{error.message}")
      end
    end
  end
end
