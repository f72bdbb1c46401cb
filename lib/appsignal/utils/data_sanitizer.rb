# frozen_string_literal: true

require "json"
require "uri"

module Appsignal
  module Utils
    # Turns params, session data and custom data into JSON that is safe to send:
    # keys matching a filter become "[FILTERED]" at any depth, objects we do not
    # know become "#<ClassName>" (never their #inspect, which may hold secrets),
    # and cycles and depth are bounded.
    module DataSanitizer
      FILTERED = "[FILTERED]"
      MAX_DEPTH = 20

      module_function

      # `filters` are strings (matched case-insensitively as whole keys) or regexps.
      def sanitize(value, filters = [], depth = 0)
        return "[MAX DEPTH]" if depth > MAX_DEPTH

        case value
        when Hash then sanitize_hash(value, filters, depth)
        when Array then value.map { |item| sanitize(item, filters, depth + 1) }
        when String then value.dup.force_encoding(Encoding::UTF_8).scrub
        when Symbol then value.to_s
        when Integer, Float, true, false, nil then value
        else "#<#{value.class.name || "Object"}>"
        end
      end

      def to_json(value, filters = [])
        JSON.generate(sanitize(value, filters))
      rescue JSON::GeneratorError, EncodingError => e
        JSON.generate("_appsignal_error" => "could not serialize: #{e.class}")
      end

      def sanitize_hash(hash, filters, depth)
        hash.each_with_object({}) do |(key, item), out|
          name = key.to_s
          out[name] = filtered?(name, filters) ? FILTERED : sanitize(item, filters, depth + 1)
        end
      end

      # `/path?password=x&q=1` with filtered keys' values replaced: for REQUEST_URI and
      # other URLs that carry params outside the params hash.
      def filter_query_string(uri, filters)
        return uri if filters.empty? || !uri.include?("?")

        path, query = uri.split("?", 2)

        pairs = query.split("&").map do |pair|
          key, value = pair.split("=", 2)
          # `user[password]` is filtered by `password`, as the params hash would be.
          names = decode_query_key(key).scan(/[^\[\]]+/)
          value && names.any? { |name| filtered?(name, filters) } ? "#{key}=#{FILTERED}" : pair
        end
        "#{path}?#{pairs.join("&")}"
      end

      def decode_query_key(key)
        URI.decode_www_form_component(key)
      rescue ArgumentError
        key
      end

      def filtered?(key, filters)
        filters.any? do |filter|
          filter.is_a?(Regexp) ? filter.match?(key) : filter.to_s.casecmp?(key)
        end
      end
    end
  end
end
