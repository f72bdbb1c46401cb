# frozen_string_literal: true

module Appsignal
  module Hooks
    # redis-rb 4.x (`Redis::Client#call`); 5.x moved to redis-client.
    class RedisHook < Hook
      register :redis

      def dependencies_present?
        return false unless @config[:instrument_redis] && defined?(::Redis::VERSION) && defined?(::Redis::Client)

        ::Redis::VERSION.to_i < 5 && ::Redis::Client.method_defined?(:call)
      end

      def install
        require "appsignal/integrations/redis"
        Appsignal::Integrations::Redis.install
      end
    end
  end
end
