# frozen_string_literal: true

module Appsignal
  module Integrations
    # Sinatra apps: configuration defaults from the app's settings (root and
    # environment) and the middleware on `Sinatra::Base`, so every app and route is
    # instrumented without touching the app's classes.
    module Sinatra
      module_function

      # Root and environment from Sinatra unless the app configured AppSignal itself.
      def configure_defaults
        return if Appsignal.config

        settings = defined?(::Sinatra::Application) ? ::Sinatra::Application.settings : nil
        root = settings&.root || Dir.pwd
        env = ENV.fetch("APPSIGNAL_APP_ENV", nil) || settings&.environment
        Appsignal.configure(env&.to_s, root_path: root)
      end

      # For `use Appsignal::Rack::SinatraInstrumentation` without `Appsignal.start`:
      # the middleware is built when the app boots, which is when AppSignal starts.
      def start_for(_app)
        configure_defaults
        Appsignal.start
      end

      def install
        ::Sinatra::Base.use(Appsignal::Rack::SinatraBaseInstrumentation)
      end
    end
  end
end
