# frozen_string_literal: true

module Appsignal
  module Rack
    # When the request entered the first proxy, from X-Request-Start or
    # X-Queue-Start (`t=<time>` in seconds, milliseconds or microseconds, as Nginx,
    # Heroku and HAProxy send it), in milliseconds since the epoch.
    module QueueStart
      HEADERS = %w[HTTP_X_REQUEST_START HTTP_X_QUEUE_START].freeze

      module_function

      def from_env(env)
        HEADERS.each do |header|
          raw = env[header]
          next unless raw

          value = raw.to_s.delete_prefix("t=").strip
          next unless value.match?(/\A\d+(\.\d+)?\z/)

          return to_milliseconds(value.to_f)
        end
        nil
      end

      def to_milliseconds(value)
        if value > 1e15 then (value / 1000).to_i # microseconds
        elsif value > 1e12 then value.to_i # milliseconds
        else
          (value * 1000).to_i # seconds (with fraction)
        end
      end
    end
  end
end
