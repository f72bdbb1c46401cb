# frozen_string_literal: true

require "logger"

module Appsignal
  # The gem's own log: `appsignal.log` in `log_path`, falling back to the working
  # directory, or stdout with `log: stdout`. Same line format as the agent's and the
  # extension's, so one file reads as one story.
  class InternalLogger
    LEVELS = { "error" => Logger::ERROR, "warn" => Logger::WARN, "warning" => Logger::WARN,
               "info" => Logger::INFO, "debug" => Logger::DEBUG, "trace" => Logger::DEBUG }.freeze

    attr_reader :path

    def initialize
      @logger = Logger.new($stderr, level: Logger::WARN)
      @logger.formatter = method(:format_line)
      @path = nil
      @buffer = []
    end

    def configure(path:, stdout: false, level: "info")
      @path = stdout ? nil : path
      target = stdout || path.nil? ? $stdout : open_file(path)
      @logger = Logger.new(target, level: LEVELS.fetch(level.to_s.downcase, Logger::INFO))
      @logger.formatter = method(:format_line)
    rescue SystemCallError => e
      @logger = Logger.new($stdout)
      @logger.formatter = method(:format_line)
      @logger.warn("cannot write the AppSignal log at #{path} (#{e.message}); logging to stdout. " \
                   "Set log_path (APPSIGNAL_LOG_PATH) to a writable directory.")
    end

    %i[debug info warn error].each do |level|
      define_method(level) { |message| @logger.public_send(level, message) }
    end

    private

    def open_file(path)
      flags = File::WRONLY | File::APPEND | File::CREAT | File::NOFOLLOW
      file = File.open(path, flags, 0o666)
      file.sync = true
      file
    end

    def format_line(severity, time, _progname, message)
      "[#{time.utc.strftime("%Y-%m-%dT%H:%M:%SZ")} (process) ##{Process.pid}][#{severity}] #{message}\n"
    end
  end
end
