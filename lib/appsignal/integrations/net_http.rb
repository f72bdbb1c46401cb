# frozen_string_literal: true

module Appsignal
  module Integrations
    # Outgoing HTTP with Net::HTTP: `request.net_http` events titled
    # `GET https://host` (never the path or query, which may hold tokens).
    module NetHttp
      EVENT = "request.net_http"

      module RequestInstrumentation
        def request(req, body = nil, &block)
          ext = Thread.current[Appsignal::Transaction::CURRENT_EXT]
          # Net::HTTP#request calls itself again after opening the connection:
          # the outer call, which includes connecting, is the one to time.
          return super if ext.nil? || @appsignal_instrumenting

          @appsignal_instrumenting = true
          ext.start_event
          begin
            super
          ensure
            @appsignal_instrumenting = false
            ext.finish_event(EVENT, "#{req.method} #{use_ssl? ? "https" : "http"}://#{req["host"] || address}",
                             nil, Appsignal::EventFormatter::DEFAULT)
          end
        end
      end

      def self.install
        return if ::Net::HTTP <= RequestInstrumentation

        ::Net::HTTP.prepend(RequestInstrumentation)
      end
    end
  end
end
