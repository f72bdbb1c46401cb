# frozen_string_literal: true

module Appsignal
  # Rack middleware. Loaded lazily so apps without Rack pay nothing.
  module Rack
    autoload :AbstractMiddleware, "appsignal/rack/abstract_middleware"
    autoload :InstrumentationMiddleware, "appsignal/rack/instrumentation_middleware"
    autoload :GenericInstrumentation, "appsignal/rack/instrumentation_middleware"
    autoload :BodyWrapper, "appsignal/rack/body_wrapper"
    autoload :QueueStart, "appsignal/rack/queue_start"
    autoload :EventHandler, "appsignal/rack/event_handler"
    autoload :SinatraBaseInstrumentation, "appsignal/rack/sinatra_instrumentation"
    autoload :SinatraInstrumentation, "appsignal/rack/sinatra_instrumentation"
    autoload :RailsInstrumentation, "appsignal/rack/rails_instrumentation"
  end
end
