# frozen_string_literal: true

require "fileutils"
require "shellwords"
require "appsignal/cli/command"
require "appsignal/cli/secret"
require "appsignal/cli/prompt"
require "appsignal/cli/push_api_key_check"
require "appsignal/cli/install/framework"
require "appsignal/cli/install/config_file"

module Appsignal
  module CLI
    # `appsignal install [PUSH_API_KEY]`: detects the framework, validates the key,
    # writes config/appsignal.yml (or prints the env vars) and the next steps.
    # Asks on stdin unless --non-interactive.
    class Install < Command
      CONFIG_PATH = File.join("config", "appsignal.yml")

      def self.option_parser(options)
        OptionParser.new do |o|
          o.banner = "Usage: appsignal install [PUSH_API_KEY] [options]\n\n" \
                     "The key defaults to the APPSIGNAL_PUSH_API_KEY env var; the file then reads it from there."
          o.on("--non-interactive", "Ask nothing; use the options and defaults") { options[:non_interactive] = true }
          o.on("--name NAME", "App name shown in AppSignal (default: the app's)") { |v| options[:name] = v }
          o.on("--environment ENVS", "Environments to activate, comma-separated (repeatable)") do |value|
            (options[:environments] ||= []).concat(value.split(",").map(&:strip).reject(&:empty?))
          end
          o.on("--endpoint URL", "Push API endpoint (default: APPSIGNAL_PUSH_API_ENDPOINT or " \
                                 "#{ConfigFile::DEFAULT_ENDPOINT})") { |v| options[:endpoint] = v }
          o.on("--environment-variables", "Print the env vars to set instead of writing a file") do
            options[:env_vars] = true
          end
          o.on("--force", "Overwrite an existing #{CONFIG_PATH}") { options[:force] = true }
          o.on("--skip-validation", "Do not check the key with the Push API (offline installs)") do
            options[:skip_validation] = true
          end
          o.on("--[no-]demo", "Send demo data when done (asked when interactive)") { |v| options[:demo] = v }
        end
      end

      def initialize(options, io)
        super
        @prompt = Prompt.new(io)
        @framework = Framework.detect(Dir.pwd)
      end

      def run
        say "AppSignal installer (#{Appsignal::VERSION})"
        say "  Detected #{@framework.label} in #{Dir.pwd}"
        say
        return 1 unless config_writable?

        key, key_from_env = push_api_key
        return 1 unless key
        return 1 unless key_accepted?(key)

        name = app_name
        if env_vars?
          print_env_vars(name, key_from_env)
          demo_environment = nil
        else
          environments = chosen_environments
          write_config(name, environments, key_from_env ? nil : key_for_file(key))
          demo_environment = environments.first
        end
        print_next_steps
        send_demo?(key, name, demo_environment) ? run_demo(demo_environment) : 0
      end

      private

      def interactive?
        !options[:non_interactive]
      end

      def env_vars?
        return @env_vars unless @env_vars.nil?

        @env_vars = options[:env_vars] ? true : interactive? && ask_config_method == :env_vars
      end

      def ask_config_method
        say "How do you want to configure AppSignal?"
        choice = @prompt.choose("  Choose (1-2)", { "1" => [:file, "a config file, #{CONFIG_PATH}"],
                                                    "2" => [:env_vars, "environment variables"] }, default: "1")
        say
        choice
      end

      def config_path
        File.join(Dir.pwd, CONFIG_PATH)
      end

      def config_writable?
        return true if options[:env_vars] || !File.exist?(config_path) || options[:force]

        complain "#{CONFIG_PATH} already exists; not overwriting it. Rerun with --force to replace it, " \
                 "or --environment-variables to configure with env vars instead."
        false
      end

      # [key, whether it came from APPSIGNAL_PUSH_API_KEY]
      def push_api_key
        given = options[:args].first
        return [given.strip, false] if given && !given.strip.empty?

        from_env = ENV.fetch("APPSIGNAL_PUSH_API_KEY", "").strip
        unless from_env.empty?
          say "Using the push API key from APPSIGNAL_PUSH_API_KEY (#{Secret.mask(from_env)})."
          return [from_env, true]
        end
        asked = interactive? ? @prompt.ask("Push API key (find it on https://appsignal.com/accounts)") : nil
        return [asked, false] if asked && !asked.empty?

        complain "No push API key: pass it as `appsignal install PUSH_API_KEY` or set APPSIGNAL_PUSH_API_KEY. " \
                 "Sign up or click 'Add app' on https://appsignal.com/accounts to get one."
        nil
      end

      def endpoint
        options[:endpoint] || ENV.fetch("APPSIGNAL_PUSH_API_ENDPOINT", nil) || ConfigFile::DEFAULT_ENDPOINT
      end

      def key_accepted?(key)
        if options[:skip_validation]
          say "Not validating the push API key (--skip-validation)."
          return true
        end
        result = PushApiKeyCheck.new(endpoint: endpoint, key: key).perform
        say "Validating the push API key #{Secret.mask(key)} with #{endpoint}: #{result.message}"
        return true if result.valid?

        if result.status == :invalid
          complain "The push API key is not valid for #{endpoint}. Copy it again from https://appsignal.com/accounts."
          return false
        end
        return true if interactive? && @prompt.yes?("Could not validate the key. Continue anyway?", default: false)

        complain "Not installing: #{result.message}. Rerun with --skip-validation to install without the check."
        false
      end

      def app_name
        return options[:name] if options[:name]

        default = @framework.default_app_name
        interactive? ? @prompt.ask("App name shown in AppSignal", default: default) : default
      end

      def chosen_environments
        return options[:environments] if options[:environments] && !options[:environments].empty?

        default = @framework.default_environments.join(",")
        answer = interactive? ? @prompt.ask("Environments to report from (comma-separated)", default: default) : default
        answer.split(",").map(&:strip).reject(&:empty?)
      end

      def key_for_file(key)
        return key unless interactive?

        say "Where should the push API key live?"
        @prompt.choose("  Choose (1-2)", { "1" => [key, "in #{CONFIG_PATH}"],
                                           "2" => [nil, "in the APPSIGNAL_PUSH_API_KEY env var (not in the file)"] },
                       default: "1")
      end

      def write_config(name, environments, key)
        FileUtils.mkdir_p(File.dirname(config_path))
        content = ConfigFile.new(name: name, environments: environments, push_api_key: key,
                                 endpoint: options[:endpoint]).render
        File.write(config_path, content)
        say
        say "Wrote #{CONFIG_PATH} for #{name.inspect}, active in #{environments.join(", ")}" \
            "#{", push API key included" if key}."
        say "  Set APPSIGNAL_PUSH_API_KEY where the app runs: the file does not contain the key." unless key
      end

      def print_env_vars(name, key_from_env)
        say
        say "Set these environment variables where the app runs:"
        if key_from_env
          say "  # APPSIGNAL_PUSH_API_KEY is already set in this shell"
        else
          say "  export APPSIGNAL_PUSH_API_KEY=...  # the key you gave (not printed)"
        end
        say "  export APPSIGNAL_APP_NAME=#{Shellwords.escape(name)}"
        say "  export APPSIGNAL_ACTIVE=true"
        say "  export APPSIGNAL_PUSH_API_ENDPOINT=#{Shellwords.escape(options[:endpoint])}" if options[:endpoint]
      end

      def send_demo?(key, name, environment)
        wanted = options.fetch(:demo) do
          interactive? && @prompt.yes?("Send demo data now to check the setup end to end?", default: true)
        end
        return false unless wanted

        # What the app will have in its environment once set up: the key (when it is
        # not in the file), the name and the endpoint for env var installs.
        ENV["APPSIGNAL_PUSH_API_KEY"] ||= key
        unless environment
          ENV["APPSIGNAL_APP_NAME"] ||= name
          ENV["APPSIGNAL_ACTIVE"] ||= "true"
          ENV["APPSIGNAL_PUSH_API_ENDPOINT"] ||= options[:endpoint] if options[:endpoint]
        end
        true
      end

      def run_demo(environment)
        say
        require "appsignal/cli/demo"
        Demo.new({ environment: environment }, @io).run
      end

      def print_next_steps
        say
        say "Next steps for #{@framework.label}:"
        @framework.next_steps.each { |line| say line.empty? ? "" : "  #{line}" }
        say
        say "Then check the setup: `appsignal diagnose` reports problems, and `appsignal demo` sends a demo error"
        say "and a demo slow request (action DemoController#hello) you can look up in AppSignal."
      end
    end
  end
end
