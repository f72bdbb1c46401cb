# frozen_string_literal: true

module Appsignal
  # A hook decides whether a library is present and installs its integration once.
  # Each hook lives in `hooks/<library>.rb`; the code that wraps the library lives in
  # `integrations/<library>.rb`. Adding a library touches those two files only.
  module Hooks
    class Hook
      class << self
        attr_reader :hook_name

        def register(name)
          @hook_name = name
          Hooks.registry[name] = self
        end
      end

      def initialize(config)
        @config = config
      end

      # Whether the library is loaded (and the user did not turn this off).
      def dependencies_present?
        false
      end

      def install; end
    end

    class << self
      def registry
        @registry ||= {}
      end

      def installed
        @installed ||= []
      end

      # `Appsignal.load(:sinatra)`: explicit integrations the app asked for.
      def request(name)
        requested << name.to_sym
        require "appsignal/integrations/loaders/#{name}" if loader?(name)
      end

      def requested
        @requested ||= []
      end

      # Installs every registered hook whose library is present, once each. Called
      # at start; safe to call again (e.g. after more libraries were required).
      def load_all(config)
        Dir[File.join(__dir__, "hooks", "*.rb")].sort.each { |file| require file }
        registry.each do |name, hook_class|
          next if installed.include?(name)

          hook = hook_class.new(config)
          next unless hook.dependencies_present?

          hook.install
          installed << name
          Appsignal.internal_logger.debug("installed the #{name} integration")
        rescue StandardError, ScriptError => e
          Appsignal.internal_logger.error("could not install the #{name} integration: #{e.class}: #{e.message}")
        end
      end

      private

      def loader?(name)
        File.exist?(File.join(__dir__, "integrations", "loaders", "#{name}.rb"))
      end
    end
  end
end
