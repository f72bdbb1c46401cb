# frozen_string_literal: true

module Appsignal
  module Hooks
    class ActiveSupportNotificationsHook < Hook
      register :active_support_notifications

      def dependencies_present?
        defined?(::ActiveSupport::Notifications) ? true : false
      end

      def install
        require "appsignal/integrations/active_support_notifications"
        Appsignal::Integrations::ActiveSupportNotificationsSubscriber.subscribe
      end
    end
  end
end
