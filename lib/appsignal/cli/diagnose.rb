# frozen_string_literal: true

require "json"
require "time"
require "rbconfig"
require "appsignal/cli/command"
require "appsignal/cli/secret"
require "appsignal/cli/push_api_key_check"
require "appsignal/cli/diagnose/agent_status"
require "appsignal/cli/diagnose/paths"

module Appsignal
  module CLI
    # `appsignal diagnose`: everything needed to tell why data does or does not
    # arrive, printed and (with --send-report) written as JSON. The push API key is
    # masked in both. Exits 1 when it found a problem, listing each with what to change.
    class Diagnose < Command
      DEFAULT_REPORT_PATH = "appsignal-diagnose.json"
      RULE = "=" * 80

      def self.option_parser(options)
        OptionParser.new do |o|
          o.banner = "Usage: appsignal diagnose [options]"
          o.on("--environment ENV", "Environment whose configuration to check") { |v| options[:environment] = v }
          o.on("--[no-]send-report", "Write the report as JSON (see --report-path)") { |v| options[:send_report] = v }
          o.on("--report-path FILE", "Where --send-report writes (default: ./#{DEFAULT_REPORT_PATH})") do |value|
            options[:report_path] = value
          end
        end
      end

      def run
        @config = load_config
        @working_dir = WorkingDirectory.resolve(configured: @config[:working_directory_path],
                                                root_path: @config.root_path)
        @problems = []
        data = collect
        print_report(data)
        if options[:send_report]
          write_report(data)
        elsif options[:send_report].nil?
          say
          say "Run `appsignal diagnose --send-report` to write this report as JSON to ./#{DEFAULT_REPORT_PATH}."
        end
        @problems.empty? ? 0 : 1
      end

      private

      def key
        @config[:push_api_key].to_s
      end

      def scrub(text)
        Secret.scrub(text, key)
      end

      def problem(text)
        @problems << text
      end

      def collect
        data = { library: library, installation: installation_report, host: host, config: configuration,
                 validation: validation, agent: agent, otlp: otlp,
                 paths: Paths.new(@config, @working_dir).report(method(:scrub)) }
        check_working_directory(data[:paths][:working_directory])
        data[:problems] = @problems
        data
      end

      def library
        loaded = Appsignal::ExtensionLoader.loaded?
        problem(Appsignal::ExtensionLoader.failure_reason.to_s) unless loaded
        agent_path = Appsignal::ExtensionLoader.agent_path
        problem("the agent binary (appsignal-agent) was not found; set APPSIGNAL_AGENT_PATH or reinstall the gem") \
          unless agent_path
        expects = loaded ? Appsignal::Extension.agent_version : nil
        agent_version = agent_path && agent_binary_version(agent_path)
        check_agent_version(agent_path, agent_version, expects)
        { language: "ruby", gem_version: Appsignal::VERSION, extension_loaded: loaded,
          extension_failure: Appsignal::ExtensionLoader.failure_reason, extension_expects_agent: expects,
          agent_path: agent_path, agent_version: agent_version }
      end

      # A mismatched agent is started and then replaced on every boot, or refused.
      def check_agent_version(agent_path, agent_version, expects)
        return unless agent_version && expects && agent_version != expects

        problem("the agent at #{agent_path} is version #{agent_version} but the extension expects #{expects}: " \
                "reinstall the gem, or point APPSIGNAL_AGENT_PATH at the matching appsignal-agent")
      end

      def agent_binary_version(path)
        output = IO.popen([path, "--version"], err: %i[child out], &:read).to_s.strip
        output[/\d+\.\d+\.\d+\S*/] || output
      rescue SystemCallError => e
        "cannot run #{path}: #{e.message}"
      end

      def installation_report
        path = Appsignal::ExtensionLoader::INSTALL_REPORT
        return { path: path, present: false } unless File.exist?(path)

        { path: path, present: true, content: File.read(path).lines.map(&:chomp) }
      rescue SystemCallError => e
        { path: path, present: true, error: e.message }
      end

      def host
        { architecture: RbConfig::CONFIG["host_cpu"], os: RbConfig::CONFIG["host_os"],
          ruby_version: "#{RUBY_VERSION}-p#{RUBY_PATCHLEVEL}", root_user: Process.uid.zero?,
          container: File.exist?("/.dockerenv") || File.exist?("/run/.containerenv") }
      end

      def configuration
        options = @config.to_masked_h
        options[:push_api_key] = { value: Secret.mask(key), source: @config.source_of(:push_api_key) } \
          unless key.empty?
        if key.strip.empty?
          problem("no push API key for environment `#{@config.env}`: set push_api_key in config/appsignal.yml " \
                  "or the APPSIGNAL_PUSH_API_KEY env var")
        end
        { environment: { value: @config.env, source: environment_source }, app_name: @config.app_name,
          active: @config.active?, options: options, warnings: @config.warnings.map { |w| scrub(w) } }
      end

      def environment_source
        return "--environment" if options[:environment]

        %w[APPSIGNAL_APP_ENV RAILS_ENV RACK_ENV].find { |var| ENV[var] && !ENV[var].empty? } || "default"
      end

      def validation
        return { push_api_key: "missing" } if key.strip.empty?

        result = PushApiKeyCheck.new(endpoint: @config[:push_api_endpoint], key: key).perform
        problem("push API key #{result.message}") unless result.valid?
        { push_api_key: result.status.to_s, message: result.message, endpoint: @config[:push_api_endpoint] }
      end

      def agent
        report = { working_directory: @working_dir }.merge(AgentStatus.new(@config, @working_dir).report)
        if report[:serves_this_config] && !report[:socket_connectable]
          problem("the agent (pid #{report[:pid]}) runs but #{report[:socket_path]} does not accept connections " \
                  "(#{report[:socket_error]}): check the permissions of the working directory, or stop the agent " \
                  "so the next process starts a fresh one")
        end
        report
      end

      # The agent reads these from the environment the app runs with; the gem does not.
      def otlp
        endpoint = ENV.fetch("APPSIGNAL_OTLP_ENDPOINT", "").strip
        only = ENV.fetch("APPSIGNAL_OTLP_ONLY", "").strip
        header_names = ENV.fetch("APPSIGNAL_OTLP_HEADERS", "").split(",").map { |h| h.split("=", 2).first.strip }
        if !endpoint.empty? && endpoint !~ %r{\Ahttps?://}
          problem("APPSIGNAL_OTLP_ENDPOINT=#{endpoint.inspect} is not an http:// or https:// URL " \
                  "(like http://localhost:4318): the agent ignores it and exports nothing over OTLP")
        end
        { endpoint: endpoint.empty? ? nil : endpoint, only: %w[true 1 yes on].include?(only.downcase),
          header_names: header_names.reject(&:empty?) }
      end

      def check_working_directory(info)
        if info[:exists]
          return if info[:type] == "directory" && info[:writable]

          problem("working directory #{@working_dir} is not a writable directory: fix its owner/mode " \
                  "or set working_directory_path (APPSIGNAL_WORKING_DIRECTORY_PATH)")
        elsif !info[:writable_when_created]
          problem("working directory #{@working_dir} does not exist and cannot be created: " \
                  "set working_directory_path (APPSIGNAL_WORKING_DIRECTORY_PATH) to a writable directory")
        end
      end

      def write_report(data)
        path = File.expand_path(options[:report_path] || DEFAULT_REPORT_PATH)
        File.write(path, scrub(JSON.pretty_generate(data.merge(generated_at: Time.now.utc.iso8601))))
        say
        say "Diagnostics report written to #{path} (push API key masked). Attach it when you ask for help."
      rescue SystemCallError => e
        complain "Cannot write the diagnostics report to #{path}: #{e.message}; choose another --report-path."
        @problems << "report not written"
      end

      def print_report(data)
        out = []
        out.push("AppSignal diagnose", RULE, "Use this to check why data does or does not reach AppSignal.",
                 "Share it when you ask for help: the push API key is masked.", RULE, "")
        out.concat(library_lines(data[:library]), [""], installation_lines(data[:installation]), [""])
        out.concat(host_lines(data[:host]), [""], config_lines(data[:config]), [""])
        out.concat(validation_lines(data[:validation]), [""], agent_lines(data[:agent]), [""])
        out.concat(otlp_lines(data[:otlp]), [""])
        out.concat(path_lines(data[:paths]), problem_lines)
        out.each { |line| say(scrub(line)) }
      end

      def library_lines(lib)
        lines = ["AppSignal library", "  Language: Ruby", "  Gem version: #{lib[:gem_version].inspect}",
                 "  Extension loaded: #{lib[:extension_loaded]}"]
        lines << "  Extension failure: #{lib[:extension_failure]}" if lib[:extension_failure]
        lines << "  Agent path: #{lib[:agent_path].inspect}"
        lines << "  Agent version: #{lib[:agent_version].inspect}"
        expects = lib[:extension_expects_agent]
        lines << "  Agent version the extension expects: #{expects.inspect}" if lib[:extension_loaded]
        lines
      end

      def installation_lines(report)
        return ["Extension installation report", "  none at #{report[:path]} (the extension built without problems)"] \
          unless report[:present]

        ["Extension installation report (#{report[:path]})",
         *(report[:content] || ["  cannot read: #{report[:error]}"]).map { |line| "  #{line}" }]
      end

      def host_lines(host)
        ["Host information", "  Architecture: #{host[:architecture]}", "  Operating system: #{host[:os]}",
         "  Ruby version: #{host[:ruby_version]}",
         "  Root user: #{host[:root_user]}#{" (not recommended)" if host[:root_user]}",
         "  Running in container: #{host[:container]}"]
      end

      def config_lines(config)
        env = config[:environment]
        lines = ["Configuration", "  environment: #{env[:value].inspect} (from #{env[:source]})",
                 "  app name: #{config[:app_name].inspect}", "  active: #{config[:active]}"]
        config[:options].each do |name, entry|
          lines << "  #{name}: #{entry[:value].inspect} (#{entry[:source] ? "from #{entry[:source]}" : "not set"})"
        end
        lines << "  Not active for `#{env[:value]}`: nothing is reported there." unless config[:active]
        lines.concat(config[:warnings].map { |warning| "  Warning: #{warning}" })
      end

      def validation_lines(validation)
        ["Validation", "  Push API key: #{validation[:message] || validation[:push_api_key]}"]
      end

      def agent_lines(agent)
        lines = ["Agent", "  Working directory: #{agent[:working_directory]}", "  Lock file: #{agent[:lock_path]}",
                 "  Socket: #{agent[:socket_path]} (#{socket_text(agent)})"]
        lock = agent[:lock]
        return lines << "  Running: no (no agent.lock; the first process that starts AppSignal starts one)" unless lock

        lines << "  Lock: pid=#{lock["pid"]} version=#{lock["version"]} config=#{lock["config"]}"
        lines << "  Running: #{agent[:running] ? "yes, pid #{agent[:pid]}" : "no (pid #{agent[:pid]} is gone)"}"
        lines << "  Serves this configuration: #{agent[:serves_this_config] ? "yes" : "no"} " \
                 "(this configuration's fingerprint: #{agent[:expected_config]})"
      end

      def socket_text(agent)
        agent[:socket_connectable] ? "accepts connections" : "does not accept connections: #{agent[:socket_error]}"
      end

      def otlp_lines(otlp)
        return ["OTLP export", "  off (APPSIGNAL_OTLP_ENDPOINT is not set)"] unless otlp[:endpoint]

        headers = otlp[:header_names].empty? ? "none" : "#{otlp[:header_names].join(", ")} (values not shown)"
        ["OTLP export", "  Endpoint: #{otlp[:endpoint]} (APPSIGNAL_OTLP_ENDPOINT)",
         "  Push API too: #{otlp[:only] ? "no (APPSIGNAL_OTLP_ONLY)" : "yes"}", "  Headers: #{headers}"]
      end

      def path_lines(paths)
        lines = ["Paths"]
        paths.each_value do |info|
          lines << "  #{info[:label]}"
          lines << "    Path: #{info[:path].inspect}"
          lines.concat(path_detail_lines(info))
        end
        lines
      end

      def path_detail_lines(info)
        unless info[:exists]
          return ["    Exists: false#{"; cannot be created by this user" if info[:writable_when_created] == false}"]
        end

        lines = ["    Exists: true (#{info[:type]}, mode #{info[:mode]})", "    Writable: #{info[:writable]}",
                 "    Owner: #{info[:owner]}#{" (not this process's user)" unless info[:owned_by_process]}"]
        return lines unless info[:last_lines]

        lines << "    Last #{info[:last_lines].length} lines:"
        lines.concat(info[:last_lines].map { |line| "      #{line}" })
      end

      def problem_lines
        return ["", "No problems found."] if @problems.empty?

        ["", "Problems found (#{@problems.length}):", *@problems.map { |text| "  - #{text}" }]
      end
    end
  end
end
