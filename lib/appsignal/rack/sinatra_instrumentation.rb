# frozen_string_literal: true

require "appsignal/integrations/sinatra"

module Appsignal
  module Rack
    # Sinatra: one transaction per request named after the route pattern,
    # `GET /users/:id` (Sinatra puts it in env["sinatra.route"]). Added to every
    # Sinatra app by `Appsignal.load(:sinatra)`; or `use` it in the app.
    class SinatraBaseInstrumentation < AbstractMiddleware
      ROUTE = "sinatra.route"
      SINATRA_ERROR = "sinatra.error"
      SKIP_ERROR = "sinatra.skip_appsignal_error"
      # Marks that a Sinatra layer already instruments this request, so a second
      # (app-level `use` under the automatic one) stays out of the way.
      ACTIVE_KEY = "appsignal.sinatra_instrumented"

      def initialize(app, options = {})
        Appsignal::Integrations::Sinatra.start_for(app) unless Appsignal.started?
        super(app, { instrument_event_name: "process_action.sinatra" }.merge(options))
      end

      def call(env)
        return @app.call(env) if env[ACTIVE_KEY]

        env[ACTIVE_KEY] = true
        super
      end

      private

      def call_nested(env, transaction)
        super
      ensure
        add_request_data(transaction, ::Rack::Request.new(env), env)
      end

      def instrument_app_call(env, transaction)
        response = super
        # With raise_errors off (the production default) Sinatra renders the error
        # page itself and leaves the exception in the env.
        error = env[SINATRA_ERROR]
        transaction.set_error(error) if error && !env[SKIP_ERROR] && @report_errors && server_error?(response)
        response
      end

      def server_error?(response)
        response.is_a?(Array) && response[0].to_i >= 500
      end

      def action_name(env)
        route = env[ROUTE]
        return super unless route

        method, pattern = route.split(" ", 2)
        script_name = env["SCRIPT_NAME"].to_s
        "#{method} #{script_name}#{pattern}"
      end
    end

    # The name older versions used for `use Appsignal::Rack::SinatraInstrumentation`
    # in a Sinatra app: the same middleware, so that one line keeps working.
    SinatraInstrumentation = SinatraBaseInstrumentation
  end
end
