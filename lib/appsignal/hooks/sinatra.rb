# frozen_string_literal: true

module Appsignal
  module Hooks
    # Only when the app asked for it with `Appsignal.load(:sinatra)`: apps that
    # `use` the middleware themselves must not get it twice.
    class SinatraHook < Hook
      register :sinatra

      def dependencies_present?
        Hooks.requested.include?(:sinatra) && defined?(::Sinatra::Base) ? true : false
      end

      def install
        require "appsignal/integrations/sinatra"
        Appsignal::Integrations::Sinatra.install
      end
    end
  end
end
