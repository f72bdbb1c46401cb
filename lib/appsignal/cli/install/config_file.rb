# frozen_string_literal: true

require "appsignal/cli/command"

require "json"

module Appsignal
  module CLI
    class Install < Command
      # The text of config/appsignal.yml: shared values under `default`, one section
      # per environment (active), and `test` (inactive). Built from plain strings, not
      # an ERB template, so a value can never run code when the gem reads the file.
      class ConfigFile
        DEFAULT_ENDPOINT = "https://push.appsignal.com"

        # push_api_key: nil means "read it from APPSIGNAL_PUSH_API_KEY".
        def initialize(name:, environments:, push_api_key:, endpoint: nil)
          @name = name
          @environments = environments.uniq - ["test"]
          @push_api_key = push_api_key
          @endpoint = endpoint
        end

        def render
          lines = header + ["default: &defaults", *shared_options, ""]
          @environments.each { |env| lines.push("#{env}:", "  <<: *defaults", "  active: true", "") }
          lines.push("test:", "  <<: *defaults", "  active: false")
          "#{lines.join("\n")}\n"
        end

        private

        def header
          [
            "# AppSignal configuration: one section per environment, chosen by APPSIGNAL_APP_ENV,",
            "# RAILS_ENV or RACK_ENV. APPSIGNAL_* environment variables override these values.",
            "# Every option: https://docs.appsignal.com/ruby/configuration/options.html",
            ""
          ]
        end

        def shared_options
          options = []
          options << if @push_api_key
                       "  push_api_key: #{quote(@push_api_key)}"
                     else
                       "  # push_api_key comes from the APPSIGNAL_PUSH_API_KEY environment variable."
                     end
          options << "  name: #{quote(@name)}"
          options << "  push_api_endpoint: #{quote(@endpoint)}" if @endpoint && @endpoint != DEFAULT_ENDPOINT
          options
        end

        # A JSON string is a valid YAML double-quoted scalar; `<%` is doubled because the
        # gem reads the file through ERB.
        def quote(value)
          value.to_s.to_json.gsub("<%", "<%%")
        end
      end
    end
  end
end
