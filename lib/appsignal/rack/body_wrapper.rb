# frozen_string_literal: true

module Appsignal
  module Rack
    # Keeps the transaction open while the server streams the body, and completes it
    # on `close` (which Rack servers must call), timing the streaming as an event.
    # Errors raised while streaming are recorded and re-raised.
    class BodyWrapper
      def self.wrap(body, transaction)
        body.respond_to?(:to_path) ? PathableBodyWrapper.new(body, transaction) : new(body, transaction)
      end

      def initialize(body, transaction)
        @body = body
        @transaction = transaction
        @closed = false
      end

      def each(&block)
        @transaction.instrument("process_response_body.rack", "Process Rack response body (#each)") do
          @body.each(&block)
        end
      rescue Exception => e # rubocop:disable Lint/RescueException
        @transaction.set_error(e)
        raise
      end

      def close
        return if @closed

        @closed = true
        @body.close if @body.respond_to?(:close)
      rescue Exception => e # rubocop:disable Lint/RescueException
        @transaction.set_error(e)
        raise
      ensure
        complete_transaction
      end

      def to_ary
        @closed = true
        array = @body.respond_to?(:to_ary) ? @body.to_ary : nil
        complete_transaction
        array
      end

      def respond_to_missing?(name, include_private = false)
        return false if name == :to_ary && !@body.respond_to?(:to_ary)
        return false if name == :to_path && !@body.respond_to?(:to_path)

        @body.respond_to?(name, include_private) || super
      end

      def method_missing(name, *args, &block)
        @body.respond_to?(name) ? @body.public_send(name, *args, &block) : super
      end

      private

      def complete_transaction
        @transaction.complete
        Appsignal::Transaction.clear_current if Appsignal::Transaction.current.equal?(@transaction)
      end
    end

    # For file bodies served with sendfile.
    class PathableBodyWrapper < BodyWrapper
      def to_path
        @body.to_path
      end
    end
  end
end
