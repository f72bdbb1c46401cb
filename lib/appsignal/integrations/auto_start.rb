# frozen_string_literal: true

# The zero-code starts, decided when the gem is required: a Rails app (Bundler
# requires the gem after Rails) gets the Railtie; a Sidekiq server process starts
# AppSignal once Sidekiq booted the app's code.
require "appsignal/integrations/railtie" if defined?(::Rails::Railtie)

if defined?(::Sidekiq::CLI) && defined?(::Sidekiq.configure_server)
  require "appsignal/integrations/sidekiq"
  Appsignal::Integrations::Sidekiq.start_with_server
end
