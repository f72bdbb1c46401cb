# frozen_string_literal: true

require "net/http"
require "uri"
require "appsignal/cli/secret"

module Appsignal
  module CLI
    # `POST {endpoint}/1/auth?api_key=`: 200 valid, 401 invalid. Messages name the
    # endpoint, never the key.
    class PushApiKeyCheck
      TIMEOUT_SECONDS = 10

      Result = Struct.new(:status, :message) do
        def valid?
          status == :valid
        end
      end

      def initialize(endpoint:, key:)
        @endpoint = endpoint.to_s.chomp("/")
        @key = key.to_s
      end

      # status: :valid, :invalid, :missing (no key), :unreachable or :unexpected.
      def perform
        return Result.new(:missing, "no push API key configured") if @key.strip.empty?

        response = post
        case response.code.to_i
        when 200 then Result.new(:valid, "valid")
        when 401 then Result.new(:invalid, "invalid: #{@endpoint} does not know this key (HTTP 401)")
        else Result.new(:unexpected, "could not validate: #{@endpoint}/1/auth answered HTTP #{response.code}")
        end
      rescue URI::InvalidURIError, ArgumentError => e
        Result.new(:unreachable, "push_api_endpoint #{@endpoint.inspect} is not a valid URL (#{e.class})")
      rescue StandardError => e # Net::OpenTimeout, SocketError, SystemCallError...
        Result.new(:unreachable, "cannot reach #{@endpoint} to validate the key " \
                                 "(#{Secret.scrub("#{e.class}: #{e.message}", @key)}); " \
                                 "check the network or push_api_endpoint (APPSIGNAL_PUSH_API_ENDPOINT)")
      end

      private

      def post
        uri = URI("#{@endpoint}/1/auth")
        raise ArgumentError, "not http(s)" unless %w[http https].include?(uri.scheme)

        uri.query = URI.encode_www_form(api_key: @key)
        Net::HTTP.start(uri.host, uri.port, use_ssl: uri.scheme == "https", open_timeout: TIMEOUT_SECONDS,
                                            read_timeout: TIMEOUT_SECONDS) do |http|
          http.request(Net::HTTP::Post.new(uri))
        end
      end
    end
  end
end
