# frozen_string_literal: true

module Appsignal
  module Hooks
    class SidekiqHook < Hook
      register :sidekiq

      def dependencies_present?
        defined?(::Sidekiq.server?) && ::Sidekiq.server? ? true : false
      end

      def install
        require "appsignal/integrations/sidekiq"
        Appsignal::Integrations::Sidekiq.install
      end
    end
  end
end
