# frozen_string_literal: true

# `Appsignal.load(:sinatra)`: take root and environment from Sinatra now (before
# `Appsignal.start` reads the configuration); the Sinatra hook adds the middleware
# when AppSignal starts.
require "appsignal/integrations/sinatra"

Appsignal::Integrations::Sinatra.configure_defaults if defined?(::Sinatra::Base)
