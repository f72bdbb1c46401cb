# frozen_string_literal: true

require_relative "extension/elf_check"

module Appsignal
  # Loads the native extension (`appsignal_extension.so`). When it is missing or
  # cannot load, AppSignal runs as a no-op: `require "appsignal"` and every API call
  # still work, and the reason is logged once at start.
  module ExtensionLoader
    INSTALL_REPORT = File.expand_path("../../ext/install.report", __dir__)

    class << self
      attr_reader :failure_reason

      def loaded?
        @loaded == true
      end

      def load!
        return @loaded unless @loaded.nil?

        path = extension_path
        problem = path && ElfCheck.problem(path)
        raise LoadError, problem if problem

        require(path || "appsignal_extension")
        @loaded = true
      rescue LoadError, StandardError => e
        @failure_reason = "the AppSignal extension could not be loaded (#{e.class}: #{e.message})" \
                          "#{install_report_hint}; AppSignal is disabled and every call is a no-op"
        @loaded = false
      end

      # The binary the extension starts: explicit env var, the gem's ext/ directory
      # (where the install placed it), or beside the loaded .so.
      def agent_path
        candidates = [
          ENV.fetch("APPSIGNAL_AGENT_PATH", nil),
          File.expand_path("../../ext/appsignal-agent", __dir__),
          loaded_so_dir && File.join(loaded_so_dir, "appsignal-agent")
        ]
        candidates.compact.find { |path| !path.empty? && File.executable?(path) }
      end

      private

      # The file `require` would load: the explicit env var, else the first
      # appsignal_extension.so on the load path (nil leaves the search to require).
      def extension_path
        explicit = ENV.fetch("APPSIGNAL_EXTENSION_PATH", nil)
        return explicit if explicit && !explicit.empty?

        $LOAD_PATH.each do |dir|
          candidate = File.join(dir.to_s, "appsignal_extension.so")
          return candidate if File.file?(candidate)
        end
        nil
      end

      def loaded_so_dir
        feature = $LOADED_FEATURES.find { |f| f.end_with?("appsignal_extension.so") }
        feature && File.dirname(feature)
      end

      def install_report_hint
        return "" unless File.exist?(INSTALL_REPORT)

        " (build report: #{File.read(INSTALL_REPORT).strip.lines.last(3).join(" ").strip})"
      rescue SystemCallError
        ""
      end
    end
  end
end
