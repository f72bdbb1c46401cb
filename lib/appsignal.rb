# frozen_string_literal: true

require "tmpdir"

require "appsignal/version"
require "appsignal/extension"

Appsignal::ExtensionLoader.load!
require "appsignal/noop_extension" unless Appsignal::ExtensionLoader.loaded?

require "appsignal/internal_logger"
require "appsignal/config"
require "appsignal/working_directory"
require "appsignal/event_formatter"
require "appsignal/transaction"
require "appsignal/helpers/instrumentation"
require "appsignal/helpers/metrics"
require "appsignal/hooks"
require "appsignal/rack"
require "appsignal/check_in"

# AppSignal for Ruby: transactions, events, errors and metrics from your app to the
# AppSignal agent. Start it with `Appsignal.start` (automatic in Rails and Sidekiq).
module Appsignal
  # Frames waiting for the reporter thread; beyond this, new transactions are
  # dropped and counted rather than blocking the app.
  CHANNEL_CAPACITY = 10_000
  STOP_TIMEOUT_SECONDS = 2.0

  extend Helpers::Instrumentation
  extend Helpers::Metrics

  class << self
    attr_reader :config, :working_directory

    def internal_logger
      @internal_logger ||= InternalLogger.new
    end

    # `Appsignal.configure(env = nil, root_path: nil) { |config| config.push_api_key = "..." }`
    def configure(env = nil, root_path: nil)
      if started?
        internal_logger.warn("Appsignal.configure called after Appsignal.start; ignored. Configure before starting.")
        return
      end
      @config = Config.new(root_path: root_path || @config&.root_path || Dir.pwd, env: env || @config&.env)
      yield ConfigDSL.new(@config) if block_given?
      @config
    end

    # Marks an integration to be loaded when AppSignal starts, e.g. `Appsignal.load(:sinatra)`.
    def load(integration)
      Hooks.request(integration)
    end

    def start
      return true if started?

      @config ||= Config.new
      @working_directory = WorkingDirectory.resolve(configured: @config[:working_directory_path],
                                                    root_path: @config.root_path)
      configure_logger(File.directory?(@working_directory) ? @working_directory : Dir.tmpdir)
      @config.warnings.each { |warning| internal_logger.warn(warning) }
      reason = start_blocker
      if reason
        # Not being active is a choice; a missing key or extension is a problem to fix.
        level = @config.active? ? :warn : :info
        internal_logger.public_send(level, "AppSignal not started: #{reason}")
        return false
      end
      start_extension
    end

    def stop(_called_by = nil)
      return unless started?

      @started = false
      CheckIn.stop(STOP_TIMEOUT_SECONDS)
      Appsignal::Extension.stop(STOP_TIMEOUT_SECONDS)
      internal_logger.debug("AppSignal stopped")
    end

    # Waits (at most `timeout` seconds) until what was recorded so far reached the agent.
    def flush(timeout = STOP_TIMEOUT_SECONDS)
      Appsignal::Extension.flush(timeout) if started?
    end

    def started?
      @started == true
    end

    # Called in a forked child (Puma and Unicorn workers, by their hooks): starts
    # this process's own reporter now instead of on its first transaction. Plain
    # `fork` without this works too: the extension notices the new PID on first use.
    # Nothing the parent recorded is sent from the child.
    def forked
      return unless active?

      Appsignal::Extension.flush(0.0)
      internal_logger.info("AppSignal reporter restarted after fork in process #{Process.pid}")
      nil
    end

    def active?
      started? && Appsignal::Extension.active?
    end

    # By exact class name, as the AppSignal gem matches `ignore_errors`: a subclass of
    # an ignored error is still reported.
    def ignored_error?(error)
      return false unless @config

      names = @config[:ignore_errors]
      !names.empty? && names.include?(error.class.name)
    end

    # Filters an integration adds to filter_parameters (e.g. Rails' own list).
    def extra_parameter_filters
      @extra_parameter_filters ||= []
    end

    private

    def start_blocker
      reason = @config.inactive_reason
      return reason if reason
      return Appsignal::ExtensionLoader.failure_reason unless Appsignal::ExtensionLoader.loaded?

      nil
    end

    def start_extension
      problem = WorkingDirectory.prepare(@working_directory, world_accessible: @config[:files_world_accessible])
      configure_logger(problem ? Dir.tmpdir : @working_directory)
      if problem
        internal_logger.error("AppSignal not started: #{problem}")
        return false
      end
      started = Appsignal::Extension.start(
        Appsignal::ExtensionLoader.agent_path, @working_directory, internal_logger.path,
        @config.agent_env(@working_directory).to_a, CHANNEL_CAPACITY,
        RUBY_VERSION, VERSION, @config[:revision].to_s
      )
      return false unless started

      @started = true
      internal_logger.info("AppSignal #{VERSION} started for #{@config.app_name} (#{@config.env}), " \
                           "working directory #{@working_directory}")
      Hooks.load_all(@config)
      install_exit_flush
      true
    end

    def configure_logger(working_directory)
      stdout = @config[:log] == "stdout"
      internal_logger.configure(path: stdout ? nil : log_file_path(working_directory), stdout: stdout,
                                level: @config[:log_level])
    end

    # log_path when it is a writable directory, else the app's log/, else the working directory.
    def log_file_path(working_directory)
      [@config[:log_path], File.join(@config.root_path, "log"), working_directory].compact.each do |dir|
        return File.join(dir, "appsignal.log") if File.directory?(dir) && File.writable?(dir)
      end
      working_directory ? File.join(working_directory, "appsignal.log") : nil
    end

    def install_exit_flush
      return if @exit_flush_installed

      @exit_flush_installed = true
      at_exit { Appsignal.stop("at_exit") }
    end
  end
end

require "appsignal/integrations/auto_start"
