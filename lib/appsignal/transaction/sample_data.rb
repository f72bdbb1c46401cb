# frozen_string_literal: true

module Appsignal
  class Transaction
    # What a transaction carries besides its timing: tags, params, session data,
    # headers and custom data, written to the extension when it completes, filtered
    # by the config, and only when the agent could keep it as a sample.
    module SampleData
      private

      # Params, headers, session data, tags and custom data only matter in the few
      # transactions the agent keeps whole (see ext/core/src/sample_gate.rs); for the
      # rest, the extension says so and the work of writing them is skipped.
      def sample_data_wanted?
        @error || Transaction.write_all_sample_data? || @ext.could_be_sampled?
      end

      def write_data
        # Most transactions carry none of it: skip the config lookups. Every field
        # written below must be in this list.
        return unless @tags || @params || @session_data || @headers || @custom_data || cut_anything?
        return unless sample_data_wanted?

        @tags&.each { |key, value| @ext.set_tag(key, value) }
        write_cut_counts
        write_params_and_session_data(Appsignal.config)
        write_headers
        @ext.set_data_json("custom_data", Utils::DataSanitizer.to_json(resolve(@custom_data))) if @custom_data
      end

      def write_params_and_session_data(config)
        if @params && (!config || config[:send_params])
          @ext.set_data_json("params", Utils::DataSanitizer.to_json(resolve(@params), param_filters))
        end
        return unless @session_data && (!config || config[:send_session_data])

        filters = config ? config[:filter_session_data] : []
        @ext.set_data_json("session_data", Utils::DataSanitizer.to_json(resolve(@session_data), filters))
      end

      def write_headers
        return unless @headers

        headers = resolve(@headers)
        return unless headers.is_a?(Hash)

        allowed = Appsignal.config ? Appsignal.config[:request_headers] : Config::DEFAULT_REQUEST_HEADERS
        lookup = Transaction.header_lookup(allowed)
        filters = nil # built only for a value with a query string (REQUEST_URI): most requests have none
        headers.each do |key, value|
          name = key.to_s
          next unless lookup.key?(name)

          value = value.to_s
          value = Utils::DataSanitizer.filter_query_string(value, filters ||= param_filters) if value.include?("?")
          @ext.set_header(name, value)
        end
      end

      def param_filters
        filters = Appsignal.config ? Appsignal.config[:filter_parameters].dup : []
        filters.concat(Appsignal.extra_parameter_filters)
      end
    end
  end
end
