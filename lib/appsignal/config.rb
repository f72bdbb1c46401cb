# frozen_string_literal: true

require "erb"
require "yaml"

module Appsignal
  # Configuration from, lowest to highest precedence: defaults, `config/appsignal.yml`
  # (ERB, one section per environment), `Appsignal.configure`, `APPSIGNAL_*` env vars.
  # Bad values are reported by key with the expected type and replaced by the default:
  # configuration mistakes never stop the app.
  class Config
    DEFAULT_REQUEST_HEADERS = %w[
      HTTP_ACCEPT HTTP_ACCEPT_CHARSET HTTP_ACCEPT_ENCODING HTTP_ACCEPT_LANGUAGE
      HTTP_CACHE_CONTROL HTTP_CONNECTION CONTENT_LENGTH PATH_INFO HTTP_RANGE
      REQUEST_METHOD REQUEST_URI SERVER_NAME SERVER_PORT SERVER_PROTOCOL
    ].freeze

    # option => [type, env var, default]
    OPTIONS = {
      name: [:string, "APPSIGNAL_APP_NAME", nil],
      push_api_key: [:string, "APPSIGNAL_PUSH_API_KEY", nil],
      active: [:bool, "APPSIGNAL_ACTIVE", nil],
      push_api_endpoint: [:string, "APPSIGNAL_PUSH_API_ENDPOINT", "https://push.appsignal.com"],
      logging_endpoint: [:string, "APPSIGNAL_LOGGING_ENDPOINT", "https://appsignal-endpoint.net"],
      log: [:string, "APPSIGNAL_LOG", "file"],
      log_path: [:string, "APPSIGNAL_LOG_PATH", nil],
      log_level: [:string, "APPSIGNAL_LOG_LEVEL", "info"],
      working_directory_path: [:string, "APPSIGNAL_WORKING_DIRECTORY_PATH", nil],
      files_world_accessible: [:bool, "APPSIGNAL_FILES_WORLD_ACCESSIBLE", true],
      filter_parameters: [:array, "APPSIGNAL_FILTER_PARAMETERS", []],
      filter_session_data: [:array, "APPSIGNAL_FILTER_SESSION_DATA", []],
      ignore_actions: [:array, "APPSIGNAL_IGNORE_ACTIONS", []],
      ignore_errors: [:array, "APPSIGNAL_IGNORE_ERRORS", []],
      ignore_namespaces: [:array, "APPSIGNAL_IGNORE_NAMESPACES", []],
      enable_host_metrics: [:bool, "APPSIGNAL_ENABLE_HOST_METRICS", true],
      hostname: [:string, "APPSIGNAL_HOSTNAME", nil],
      revision: [:string, "APPSIGNAL_REVISION", nil],
      transmission_interval: [:float, "APPSIGNAL_TRANSMISSION_INTERVAL", 30.0],
      request_headers: [:array, "APPSIGNAL_REQUEST_HEADERS", DEFAULT_REQUEST_HEADERS],
      send_params: [:bool, "APPSIGNAL_SEND_PARAMS", true],
      send_session_data: [:bool, "APPSIGNAL_SEND_SESSION_DATA", true],
      instrument_net_http: [:bool, "APPSIGNAL_INSTRUMENT_NET_HTTP", true],
      instrument_redis: [:bool, "APPSIGNAL_INSTRUMENT_REDIS", true],
      instrument_sql: [:bool, "APPSIGNAL_INSTRUMENT_SQL", true],
      enable_minutely_probes: [:bool, "APPSIGNAL_ENABLE_MINUTELY_PROBES", true]
    }.freeze

    TYPE_NAMES = { string: "a string", bool: "true or false", array: "a list of strings",
                   float: "a number" }.freeze

    class InvalidValue < StandardError; end

    attr_reader :root_path, :env, :sources, :warnings

    def initialize(root_path: Dir.pwd, env: nil, config_file: nil)
      @root_path = root_path.to_s
      @env = (env || ENV["APPSIGNAL_APP_ENV"] || ENV["RAILS_ENV"] || ENV["RACK_ENV"] || "development").to_s
      @config_file = config_file || File.join(@root_path, "config", "appsignal.yml")
      @warnings = []
      @sources = { default: defaults, file: load_file, code: {}, env: load_env }
    end

    # Values set in code (`Appsignal.configure`), between the file and env vars.
    def set_from_code(key, value)
      key = key.to_sym
      unless OPTIONS.key?(key)
        warn_about("unknown config option `#{key}` set in Appsignal.configure; it is ignored")
        return
      end
      @sources[:code][key] = coerce(key, value, "Appsignal.configure")
      @resolved = nil
    rescue InvalidValue => e
      warn_about(e.message)
    end

    # Read on every transaction: one hash lookup in the merged view.
    def [](key)
      (@resolved ||= resolve)[key.to_sym]
    end

    def source_of(key)
      %i[env code file default].find { |source| @sources[source].key?(key.to_sym) }
    end

    # Active when set so, or (like the original gem) when a push API key is present
    # and nothing said otherwise.
    def active?
      explicit = self[:active]
      explicit.nil? ? !blank?(self[:push_api_key]) : explicit
    end

    def valid?
      !blank?(self[:push_api_key])
    end

    # Why AppSignal would not start with this configuration, naming what to change; nil when it would.
    def inactive_reason
      if self[:active] == false
        return "not active for environment `#{env}` (active: false; set active: true or APPSIGNAL_ACTIVE=true)"
      end
      return nil if valid?

      "no push API key for environment `#{env}`: set push_api_key in the `#{env}` section of " \
        "config/appsignal.yml, in Appsignal.configure, or the APPSIGNAL_PUSH_API_KEY env var"
    end

    def app_name
      self[:name] || File.basename(@root_path)
    end

    OTLP_ENV = %w[APPSIGNAL_OTLP_ENDPOINT APPSIGNAL_OTLP_HEADERS APPSIGNAL_OTLP_ONLY].freeze

    # The configuration the agent needs, as env vars for its process. This is the
    # only place the push API key leaves Ruby, and it goes to our own child process.
    def agent_env(working_dir)
      {
        "APPSIGNAL_PUSH_API_KEY" => self[:push_api_key].to_s,
        "APPSIGNAL_APP_NAME" => app_name,
        "APPSIGNAL_APP_ENV" => env,
        "APPSIGNAL_PUSH_API_ENDPOINT" => self[:push_api_endpoint].to_s,
        "APPSIGNAL_WORKING_DIRECTORY_PATH" => working_dir,
        "APPSIGNAL_LOG_PATH" => self[:log_path].to_s,
        "APPSIGNAL_LOG_LEVEL" => self[:log_level].to_s,
        "APPSIGNAL_FILES_WORLD_ACCESSIBLE" => self[:files_world_accessible].to_s,
        "APPSIGNAL_ENABLE_HOST_METRICS" => self[:enable_host_metrics].to_s,
        "APPSIGNAL_HOSTNAME" => self[:hostname].to_s,
        "APPSIGNAL_REVISION" => self[:revision].to_s,
        "APPSIGNAL_TRANSMISSION_INTERVAL" => self[:transmission_interval].to_s,
        # Read by the agent from its environment; passed on explicitly because the
        # extension's lock fingerprint covers them (a change needs a new agent).
        **OTLP_ENV.to_h { |name| [name, ENV.fetch(name, "")] }
      }.reject { |_, value| value.empty? }
    end

    # Every option with its value and source, the key masked: for diagnose and logs.
    def to_masked_h
      OPTIONS.keys.to_h do |key|
        value = self[key]
        value = "#{value.to_s[0, 4]}...(masked)" if key == :push_api_key && !blank?(value)
        [key, { value: value, source: source_of(key) }]
      end
    end

    private

    def resolve
      %i[default file code env].each_with_object({}) { |source, merged| merged.merge!(@sources[source]) }.freeze
    end

    def defaults
      OPTIONS.to_h { |key, (_, _, default)| [key, default] }.compact
    end

    def load_file
      return {} unless File.exist?(@config_file)

      document = YAML.safe_load(ERB.new(File.read(@config_file)).result, aliases: true) || {}
      section = document[@env]
      unless section.is_a?(Hash)
        warn_about("#{@config_file} has no section for environment `#{@env}`; using env vars and defaults")
        return {}
      end
      coerce_all(section, "#{@config_file} (#{@env})")
    rescue StandardError, ScriptError => e
      warn_about("cannot read #{@config_file}: #{e.class}: #{e.message}; fix the file or remove it")
      {}
    end

    def load_env
      OPTIONS.each_with_object({}) do |(key, (type, var, _)), values|
        raw = ENV.fetch(var, nil)
        next if raw.nil? || raw.empty?

        values[key] = coerce(key, type == :array ? raw.split(",").map(&:strip) : raw, "env var #{var}")
      rescue InvalidValue => e
        warn_about(e.message)
      end
    end

    def coerce_all(section, origin)
      section.each_with_object({}) do |(key, value), values|
        key = key.to_sym
        unless OPTIONS.key?(key)
          warn_about("unknown config option `#{key}` in #{origin}; it is ignored")
          next
        end
        values[key] = coerce(key, value, origin)
      rescue InvalidValue => e
        warn_about(e.message)
      end
    end

    def coerce(key, value, origin)
      type = OPTIONS.fetch(key).first
      case type
      when :string then coerce_string(value)
      when :bool then coerce_bool(value)
      when :array then coerce_array(value)
      when :float then coerce_float(value)
      end
    rescue InvalidValue
      raise InvalidValue, "config option `#{key}` from #{origin} must be #{TYPE_NAMES.fetch(type)}, " \
                          "got #{value.inspect}; using the default"
    end

    def coerce_string(value)
      raise InvalidValue unless value.is_a?(String) || value.is_a?(Symbol) || value.is_a?(Numeric)

      value.to_s
    end

    def coerce_bool(value)
      return value if [true, false].include?(value)
      return true if %w[true 1 yes].include?(value.to_s.downcase)
      return false if %w[false 0 no].include?(value.to_s.downcase)

      raise InvalidValue
    end

    def coerce_array(value)
      raise InvalidValue unless value.is_a?(Array) && value.all? { |v| v.is_a?(String) || v.is_a?(Symbol) }

      value.map(&:to_s)
    end

    def coerce_float(value)
      Float(value)
    rescue ArgumentError, TypeError
      raise InvalidValue
    end

    def warn_about(message)
      @warnings << message
    end

    def blank?(value)
      value.nil? || value.to_s.strip.empty?
    end
  end

  # What `Appsignal.configure { |config| ... }` yields: setters for every option.
  class ConfigDSL
    def initialize(config)
      @config = config
    end

    def env
      @config.env
    end

    def app_path
      @config.root_path
    end

    # Activates AppSignal only in the listed environments.
    def activate_if_environment(*envs)
      self.active = envs.flatten.map(&:to_s).include?(@config.env)
    end

    Config::OPTIONS.each_key do |key|
      define_method("#{key}=") { |value| @config.set_from_code(key, value) }
      define_method(key) { @config[key] }
    end

    # A misspelt option (`config.pussh_api_key = ...`) is reported as an unknown
    # option in the log, not raised into the app's boot.
    def method_missing(name, *args)
      return super unless name.end_with?("=") && args.length == 1

      @config.set_from_code(name.to_s.chomp("="), args.first)
    end

    def respond_to_missing?(name, include_private = false)
      super
    end
  end
end
