# frozen_string_literal: true

module Appsignal
  module Hooks
    # Puma in cluster mode with the app preloaded in the master: every worker
    # restarts the reporter as it boots and flushes before it shuts down. Without
    # this the extension still notices the fork on first use; the hook makes it
    # happen before the first request and makes the last one arrive.
    class PumaHook < Hook
      register :puma

      def dependencies_present?
        defined?(::Puma) && ::Puma.respond_to?(:cli_config) && ::Puma.cli_config ? true : false
      end

      def install
        require "appsignal/integrations/puma"
        Appsignal::Integrations::Puma.install(::Puma.cli_config)
      end
    end
  end
end
