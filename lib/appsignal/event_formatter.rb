# frozen_string_literal: true

module Appsignal
  # Body formats understood by the extension: SQL bodies are obfuscated on the
  # reporter thread before anything leaves the process.
  #
  # Also the AppSignal gem's way to give an ActiveSupport::Notifications event of
  # your own a title and body:
  #
  #   class ChargeFormatter
  #     def format(payload) = ["Charge #{payload[:provider]}", nil]
  #   end
  #   Appsignal::EventFormatter.register("charge.billing", ChargeFormatter)
  #
  # `format` returns `[title, body]` or `[title, body, body_format]`.
  module EventFormatter
    DEFAULT = 0
    SQL_BODY_FORMAT = 1

    class << self
      def formatters
        @formatters ||= {}
      end

      # `formatter` is a class (instantiated once, as the AppSignal gem does) or an
      # object that responds to `format(payload)`.
      def register(name, formatter)
        instance = formatter.is_a?(Class) ? formatter.new : formatter
        unless instance.respond_to?(:format)
          Appsignal.internal_logger.error("EventFormatter for `#{name}` does not respond to `format`; not registered")
          return
        end
        formatters[name.to_s] = instance
        nil
      end

      def unregister(name, _formatter = nil)
        formatters.delete(name.to_s)
        nil
      end

      def registered?(name, klass = nil)
        formatter = formatters[name.to_s]
        return false unless formatter

        klass.nil? || formatter.is_a?(klass) || formatter.equal?(klass)
      end

      # [title, body, body_format] from the registered formatter, nil without one. A
      # formatter that raises costs its event the title and body, never the request.
      def format(name, payload)
        formatter = formatters[name]
        return nil unless formatter

        title, body, body_format = formatter.format(payload)
        [string_or_nil(title), string_or_nil(body), body_format == SQL_BODY_FORMAT ? SQL_BODY_FORMAT : DEFAULT]
      rescue StandardError => e
        Appsignal.internal_logger.warn("EventFormatter for `#{name}` raised #{e.class}: #{e.message}")
        nil
      end

      private

      def string_or_nil(value)
        value&.to_s
      end
    end
  end
end
