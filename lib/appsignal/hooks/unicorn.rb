# frozen_string_literal: true

module Appsignal
  module Hooks
    # Unicorn with `preload_app true`: each worker restarts the reporter when its
    # worker loop starts (right after Unicorn's own after_fork), so the app's
    # unicorn.rb needs no AppSignal lines.
    class UnicornHook < Hook
      register :unicorn

      def dependencies_present?
        return false unless defined?(::Unicorn::HttpServer)

        server = ::Unicorn::HttpServer
        server.private_method_defined?(:worker_loop) || server.method_defined?(:worker_loop)
      end

      def install
        require "appsignal/integrations/unicorn"
        Appsignal::Integrations::Unicorn.install
      end
    end
  end
end
