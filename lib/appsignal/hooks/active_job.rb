# frozen_string_literal: true

module Appsignal
  module Hooks
    class ActiveJobHook < Hook
      register :active_job

      def dependencies_present?
        defined?(::ActiveJob) && defined?(::ActiveSupport.on_load) ? true : false
      end

      def install
        require "appsignal/integrations/active_job"
        Appsignal::Integrations::ActiveJob.install
      end
    end
  end
end
