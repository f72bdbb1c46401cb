# frozen_string_literal: true

module Appsignal
  module Rack
    # For plain Rack apps: `use Appsignal::Rack::InstrumentationMiddleware`. The action
    # comes from `Appsignal.set_action` or `env["appsignal.route"]`.
    class InstrumentationMiddleware < AbstractMiddleware
      def initialize(app, options = {})
        super(app, { instrument_event_name: "process_request_middleware.rack" }.merge(options))
      end
    end

    # The name older versions of the AppSignal gem used.
    GenericInstrumentation = InstrumentationMiddleware
  end
end
