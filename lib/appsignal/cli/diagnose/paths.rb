# frozen_string_literal: true

require "appsignal/cli/command"

require "etc"

module Appsignal
  module CLI
    class Diagnose < Command
      # Existence, type, mode, owner and writability of the paths AppSignal uses,
      # and the last lines of its log files.
      class Paths
        LOG_LINES = 10
        LOG_TAIL_BYTES = 64 * 1024

        def initialize(config, working_dir)
          @config = config
          @working_dir = working_dir
        end

        # { key => { label:, path: } }
        def paths
          {
            current_directory: ["Current directory", Dir.pwd],
            root_path: ["Root path", @config.root_path],
            working_directory: ["Working directory", @working_dir],
            agent_socket: ["Agent socket", File.join(@working_dir, "agent.socket")],
            agent_lock: ["Agent lock", File.join(@working_dir, "agent.lock")],
            payloads: ["Payloads kept for retry", File.join(@working_dir, "payloads")],
            log_directory: ["Log directory (log_path)", @config[:log_path]]
          }.reject { |_, (_, path)| path.nil? || path.empty? }.merge(log_files)
        end

        def report(scrub)
          paths.transform_values { |(label, path)| stat(path, scrub).merge(label: label) }
        end

        private

        # Where the gem and the agent write appsignal.log, the same rules as theirs.
        def log_files
          files = [gem_log_path, agent_log_path].compact.uniq
          files.each_with_index.to_h do |path, index|
            label = files.length == 1 ? "AppSignal log (gem and agent)" : ["AppSignal log (gem)", "Agent log"][index]
            [:"log_file_#{index + 1}", [label, path]]
          end
        end

        def gem_log_path
          dirs = [@config[:log_path], File.join(@config.root_path, "log"), @working_dir].compact
          dir = dirs.find { |d| File.directory?(d) && File.writable?(d) } || @working_dir
          File.join(dir, "appsignal.log")
        end

        def agent_log_path
          configured = @config[:log_path]
          return File.join(@working_dir, "appsignal.log") if configured.nil? || configured.empty?

          File.directory?(configured) ? File.join(configured, "appsignal.log") : configured
        end

        def stat(path, scrub)
          info = { path: path, exists: File.exist?(path) }
          return info.merge(writable_when_created: creatable?(path)) unless info[:exists]

          stat = File.stat(path)
          info.merge!(type: stat.ftype, mode: format("%04o", stat.mode & 0o7777), writable: File.writable?(path),
                      owner: owner(stat), owned_by_process: stat.uid == Process.uid)
          info[:last_lines] = last_lines(path).map { |line| scrub.call(line) } if stat.file? && path.end_with?(".log")
          info
        rescue SystemCallError => e
          { path: path, exists: false, error: "#{e.class}: #{e.message}" }
        end

        def owner(stat)
          user = Etc.getpwuid(stat.uid)&.name
          group = Etc.getgrgid(stat.gid)&.name
          "#{user || "?"}:#{group || "?"} (uid #{stat.uid}, gid #{stat.gid})"
        rescue ArgumentError
          "uid #{stat.uid}, gid #{stat.gid}"
        end

        # The nearest existing ancestor decides whether the path can be made.
        def creatable?(path)
          parent = File.dirname(path)
          parent = File.dirname(parent) until File.exist?(parent) || parent == File.dirname(parent)
          File.directory?(parent) && File.writable?(parent)
        end

        def last_lines(path)
          File.open(path, "rb") do |file|
            file.seek([file.size - LOG_TAIL_BYTES, 0].max)
            file.read.to_s.force_encoding(Encoding::UTF_8).scrub.lines.last(LOG_LINES).map(&:chomp)
          end
        rescue SystemCallError => e
          ["(cannot read: #{e.message})"]
        end
      end
    end
  end
end
