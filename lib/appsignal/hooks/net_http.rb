# frozen_string_literal: true

module Appsignal
  module Hooks
    class NetHttpHook < Hook
      register :net_http

      def dependencies_present?
        @config[:instrument_net_http] && defined?(::Net::HTTP) ? true : false
      end

      def install
        require "appsignal/integrations/net_http"
        Appsignal::Integrations::NetHttp.install
      end
    end
  end
end
