# frozen_string_literal: true

require "appsignal/rack/rails_instrumentation"

module Appsignal
  module Integrations
    # Rails apps need no code: adding the gem loads this Railtie. It configures
    # AppSignal from config/appsignal.yml (root Rails.root, environment Rails.env
    # unless APPSIGNAL_APP_ENV says otherwise), adds the middleware, and starts
    # AppSignal once the app's own initializers ran (so `Appsignal.configure` in
    # config/initializers still applies).
    class Railtie < ::Rails::Railtie
      config.appsignal = ActiveSupport::OrderedOptions.new
      # :after_initialize, or :none for apps that call Appsignal.start themselves.
      config.appsignal.start_at = :after_initialize

      initializer "appsignal.configure_rails_initialization" do |app|
        Railtie.configure(app)
      end

      config.after_initialize do |app|
        Railtie.start(app) if app.config.appsignal.start_at == :after_initialize
      end

      class << self
        def configure(app)
          unless Appsignal.config
            env = ENV.fetch("APPSIGNAL_APP_ENV", nil)
            Appsignal.configure(env.nil? || env.empty? ? ::Rails.env.to_s : env, root_path: ::Rails.root.to_s)
          end
          insert_middleware(app.middleware)
        end

        def start(app)
          Appsignal.extra_parameter_filters.concat(parameter_filters(app.config.filter_parameters))
          Appsignal.start
        end

        private

        # Inside DebugExceptions (itself inside ShowExceptions), so errors reach us
        # before Rails renders them as error pages. The stack here is a proxy that
        # replays operations when the app builds it.
        def insert_middleware(stack)
          stack.insert_after(::ActionDispatch::DebugExceptions, Appsignal::Rack::RailsInstrumentation)
        end

        # Rails matches strings and symbols anywhere in a key (`:pass` filters
        # `password`); procs cannot be applied outside Rails and are left to it.
        def parameter_filters(filters)
          Array(filters).filter_map do |filter|
            case filter
            when Regexp then filter
            when String, Symbol then Regexp.new(Regexp.escape(filter.to_s), Regexp::IGNORECASE)
            end
          end
        end
      end
    end
  end
end
